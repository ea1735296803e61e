"""mmrl: reinforcement learning with verifiable rewards for language and vision-language models."""
__version__ = "0.1.0"
