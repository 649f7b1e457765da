"""Tested code behind the book *Optimization for deep learning, interactively*."""
