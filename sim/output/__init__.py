"""Output: atomic files and folders, tables, PNG plots, the HTML report."""
