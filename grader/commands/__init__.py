"""What the command line runs: batches, the hand-out, the self-test, the autograder."""
