"""View models: the data functions the app's pages and notebooks call, one file per view.

Each is a pure function of a configuration (keyword arguments with defaults, explicit seeds)
returning a dict of numpy arrays and scalars: testable numbers, cacheable by the app, exportable;
`ntk.figures` turns each into plotly figures. `progress(done, total, label)` is optional.
"""
from .architectures import architectures_data
from ._common import activation_spec, infinite_net, make_inputs, make_net
from .convergence import convergence_data
from .home import home_data
from .kernel import kernel_data
from .lazy import LAZY_METRICS, lazy_data
from .spectrum import spectrum_data
from .training import training_data, training_dataset

__all__ = ["LAZY_METRICS", "activation_spec", "architectures_data", "convergence_data", "home_data", "infinite_net",
           "kernel_data", "lazy_data", "make_inputs", "make_net", "spectrum_data", "training_data",
           "training_dataset"]
