"""Compatibility module: the Streamlit helpers live in `ntk.app` (state, cache, chart,
export_dialog, registry, prewarm). Imports streamlit; `import ntk` never imports this."""
from .app.cache import cached_figure, cached_result, compute  # noqa: F401
from .app.chart import CHART_CONFIG, plotly_chart  # noqa: F401
from .app.export_dialog import export_panel, show_figure  # noqa: F401
from .app.prewarm import configure_jax_cache, prewarm, start_prewarm, warm_caches  # noqa: F401
from .app.registry import ACTIVATIONS, APP_MEMORY_BUDGET, WIDTH_OPTIONS  # noqa: F401
from .app.state import PageState, presenter, presenter_toggle  # noqa: F401

MEMORY_BUDGET = APP_MEMORY_BUDGET
