"""How storage/postgres_driver.py joins a commit's statements into one (its behaviour on a real PostgreSQL is in
tests/integration/test_postgres_driver.py)."""

from __future__ import annotations

from storage.postgres_driver import MISSED, joined, missed_step, needs_transaction


def test_steps_on_two_tables_become_one_statement_with_their_parameters_renumbered() -> None:
    sql, arguments = joined([
        ("INSERT INTO fsm_record (key, state) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET state = excluded.state",
         ("k", "s"), None),
        ("UPDATE inbox SET status = $1 WHERE update_id = $2 AND claim_token = $3", (1, 7, "t"), 1),
    ]) or ("", ())
    assert sql.startswith("WITH s0 AS (INSERT INTO fsm_record (key, state) VALUES ($1, $2) ON CONFLICT")
    assert "s1 AS (UPDATE inbox SET status = $3 WHERE update_id = $4 AND claim_token = $5 RETURNING 1)" in sql
    assert arguments == ("k", "s", 1, 7, "t")
    # The counted step fails the statement when its count is not 1; the other's count is only reported.
    assert "CASE WHEN (SELECT count(*) FROM s1) = 1" in sql and f"'{MISSED}1 '" in sql
    assert "SELECT (SELECT count(*) FROM s0), CASE" in sql


def test_steps_that_cannot_be_one_statement_run_one_by_one() -> None:
    update = ("UPDATE inbox SET status = $1 WHERE update_id = $2", (1, 2), None)
    assert joined([update, update]) is None  # one table twice: the second would not see the first's write
    assert joined([("SELECT 1", (), None)]) is None
    assert joined([("DELETE FROM fsm_record WHERE key = $1 RETURNING key", ("k",), None)]) is None
    assert joined([("delete from fsm_record where key = $1", ("k",), None), update]) is not None


def test_only_a_missed_step_is_read_as_one() -> None:
    class Failed(Exception):
        sqlstate = "22P02"

    assert missed_step(Failed(f'invalid input syntax for type bigint: "{MISSED}3 0"')) == 3
    assert missed_step(Failed('invalid input syntax for type bigint: "abc"')) is None
    other = Failed(f"{MISSED}3 0")
    other.sqlstate = "23505"
    assert missed_step(other) is None


def test_only_a_plain_read_runs_without_a_transaction() -> None:
    assert not needs_transaction("SELECT state FROM fsm_record WHERE key = $1")
    assert needs_transaction("SELECT id FROM inbox WHERE status = 0 FOR UPDATE SKIP LOCKED")
    assert needs_transaction("select id from outbox for  no key update")
    assert needs_transaction("UPDATE inbox SET status = 1")
