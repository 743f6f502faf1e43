"""One Router per feature; app/routers.py lists them in the order the dispatcher tries them."""
