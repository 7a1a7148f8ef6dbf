"""Benchmarks of qwen-ls beside their baselines: `python -m benchmarks --help`."""
