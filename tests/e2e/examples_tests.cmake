# The examples in examples/ (built there into bin/examples/) and the facts their texts claim.
memtrace_e2e_test(test_examples)
