"""Small Streamlit helpers shared by the pages: the current setup, the store, run views."""
