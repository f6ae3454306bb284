"""attnsim figures: the data behind each plot and the matplotlib that draws it.

matplotlib is imported inside the drawing functions only (Agg backend), so
importing this package stays cheap. ``style`` holds the one look they share.
"""

from cli.plots.breakdown import breakdown_figure, evaluate_points
from cli.plots.lines import speedup_figure, sparsity_figure
from cli.plots.roofline import roofline_figure
from cli.plots.validation import validation_figure

__all__ = ["breakdown_figure", "evaluate_points", "roofline_figure", "sparsity_figure", "speedup_figure",
           "validation_figure"]
