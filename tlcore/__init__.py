"""Transfer Lab engine: datasets, backbones, strategies, runs. Never imports streamlit."""

__version__ = "0.1.0"
