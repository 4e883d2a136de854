"""ntk: Neural Tangent Kernel analysis and visualization on current JAX."""
from .activations import Activation, get_activation
from .empirical import empirical_ntk, estimate_cost
from .infinite import Kernel, infinite_kernel
from .nets import MLP, mlp
