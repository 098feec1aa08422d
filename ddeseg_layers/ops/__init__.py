"""Fused operators of ddeseg_layers, each with its PyTorch reference beside it (ops/<op>/{reference,...})."""
