"""Analysis: records -> ``summary.json`` figures, time series, incidents, confidence intervals, the metric registry."""
