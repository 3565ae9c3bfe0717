"""One supervised AMI connection (panoramisk), live queue state, test calls, simulated operators."""
