"""What measures and proves the pipeline from outside, never shipped in it: the benchmark (`bin/bench`),
the chaos soak (`bin/soak`, tests/test_chaos.py), the process harness and the sealed environment that
the tests, the bench and the soak start every child process with."""
