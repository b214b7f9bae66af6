"""Where sessions live: in the token itself (``jwt``) or in Redis (``server``)."""
