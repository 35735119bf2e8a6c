# The runner (tests/unit_main.c) is linked by the top-level unit rule; the
# benchmarks and integration tests are listed here.
