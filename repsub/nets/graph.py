"""Any image classifier as a graph of named nodes: a torchvision model or a user's own module.

The built-in families (:mod:`repsub.nets.chain`) are chains of blocks that end at their
layers. A network with skip connections cannot be cut in two like that, so here the
model is traced once with torch.fx, and a layer is a node named as
``torchvision.models.feature_extraction`` names it (``layer3.1.relu_1``: a module
called twice has one name per call). The graph is run node by node:

- up to a node (``forward_to``), evaluating only the nodes it depends on, which is
  how activation maximisation stops at its layer;
- from a node (``cut``), re-running only the nodes that depend on it, with every
  other value the rest of the graph reads (a skip connection's input) taken from the
  intact pass and gathered for the images of the ablated batch, so many ablations
  still share one pass.

Modules are looked up by name on every call, so moving, copying or loading weights
into the network (``assign=True`` replaces parameters) never leaves a stale graph.
In-place operations are switched off: they would overwrite values the graph keeps.
Like the built-in families, a model takes pixels in [0, 1] and normalises inside.
"""

import torch
from torch import fx, nn
from torch.nn import functional as F

from ..errors import UserError
from .base import Normalize
from .kinds import CONV, VECTOR

RELU_FUNCTIONS = (torch.relu, F.relu)
# What may lie between a unit's output and the convolution or linear map that made it
# (backwards from the node), for its incoming-weight norm.
PASS_THROUGH = (nn.ReLU, nn.Identity, nn.Dropout, nn.Flatten)


def _tracer():
    from torchvision.models.feature_extraction import NodePathTracer, _set_default_tracer_kwargs

    return NodePathTracer(**_set_default_tracer_kwargs(None))


def _attribute(module, target):
    for part in target.split("."):
        module = getattr(module, part)
    return module


class GraphNet(nn.Module):
    """``net`` (normalised images -> logits) behind a Normalize, analysable at any node.
    ``rectify``: a node that is not a ReLU is analysed through one (the default), or as it
    is (docs/CHOICES.md says what each compares)."""

    def __init__(self, name: str, net: nn.Module, mean, std, rectify=True):
        super().__init__()
        self.name, self.rectify = name, rectify
        self.normalize = Normalize(mean, std)
        self.net = net
        for module in net.modules():
            if getattr(module, "inplace", False):
                module.inplace = False
        tracer = _tracer()
        training = net.training
        try:
            graph = tracer.trace(net.eval())
        except Exception as error:  # torch.fx raises many kinds for code it cannot trace
            raise UserError(f"model {name}: torch.fx cannot trace it ({type(error).__name__}: "
                            f"{str(error).splitlines()[0] if str(error) else ''}); make its forward traceable "
                            f"(no data-dependent Python control flow)") from None
        finally:
            net.train(training)
        for node in graph.nodes:
            if node.kwargs.get("inplace"):
                node.kwargs = {**node.kwargs, "inplace": False}
        self.order = list(graph.nodes)
        self.input = next(n for n in self.order if n.op == "placeholder")
        self.output = next(n for n in self.order if n.op == "output")
        self.nodes = {qualname: node for node, qualname in tracer.node_to_qualname.items() if node.op != "placeholder"}
        self._ancestors, self._descendants = {}, {}
        self.per_image = {self.input, *self._after(self.input)}  # values computed from the images

    @property
    def layers(self):
        raise UserError(f"model {self.name}: name the layers to analyse (list them with 'python -m repsub layers "
                        f"--model {self.name}')")

    # -- running the graph -------------------------------------------------------------

    def _node(self, layer):
        if layer not in self.nodes:
            raise UserError(f"model {self.name} has no layer {layer!r}; name a node that 'python -m repsub layers' "
                            f"lists for it")
        return self.nodes[layer]

    def _needed(self, targets):
        key = frozenset(targets)
        if key not in self._ancestors:
            needed, stack = set(), list(targets)
            while stack:
                node = stack.pop()
                if node not in needed:
                    needed.add(node)
                    stack.extend(node.all_input_nodes)
            self._ancestors[key] = [n for n in self.order if n in needed]
        return self._ancestors[key]

    def _after(self, node):
        """The nodes whose value depends on ``node``, in graph order."""
        if node not in self._descendants:
            changed = {node}
            for other in self.order:
                if other is not node and any(i in changed for i in other.all_input_nodes):
                    changed.add(other)
            self._descendants[node] = [n for n in self.order if n in changed and n is not node]
        return self._descendants[node]

    def _evaluate(self, nodes, env):
        for node in nodes:
            if node in env:
                continue
            args = fx.node.map_arg(node.args, env.__getitem__)
            kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
            if node.op == "call_module":
                env[node] = self.net.get_submodule(node.target)(*args, **kwargs)
            elif node.op == "call_function":
                env[node] = node.target(*args, **kwargs)
            elif node.op == "call_method":
                env[node] = getattr(args[0], node.target)(*args[1:], **kwargs)
            elif node.op == "get_attr":
                env[node] = _attribute(self.net, node.target)
            elif node.op == "output":
                env[node] = args[0]
        return env

    def _run(self, x, targets):
        return self._evaluate(self._needed(targets), {self.input: self.normalize(x)})

    def forward(self, x):
        logits = self._run(x, [self.output])[self.output]
        if not isinstance(logits, torch.Tensor):
            raise UserError(f"model {self.name} returns a {type(logits).__name__}, not a tensor of logits; wrap it "
                            f"so that it returns the logits alone")
        return logits

    # -- the layer interface the analyses use (as repsub.models.LayeredNet) -----------------

    def _is_relu(self, node):
        if node.op == "call_module":
            return isinstance(self.net.get_submodule(node.target), nn.ReLU)
        return (node.op == "call_function" and node.target in RELU_FUNCTIONS) or (
            node.op == "call_method" and node.target == "relu")

    def _checked(self, layer, value):
        if not isinstance(value, torch.Tensor) or value.dim() not in (2, 4):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise UserError(f"layer {layer!r} of {self.name} gives {shape}, not (images, channels[, H, W]) with a "
                            f"channel dimension; choose another layer ('python -m repsub layers')")
        return value

    def _analysed(self, layer, env):
        node = self.nodes[layer]
        value = self._checked(layer, env[node])
        return torch.relu(value) if self.rectify and not self._is_relu(node) else value

    def rectified(self, layer) -> bool:
        """Whether the layer's units are post-ReLU (never negative)."""
        return self.rectify or self._is_relu(self._node(layer))

    def forward_to(self, x, layer: str, pre_relu: bool = False):
        """The layer's units: the node's output, through a ReLU where it is not one itself
        and ``rectify`` is on (docs/CHOICES.md); ``pre_relu``: the value before that ReLU."""
        node = self._node(layer)
        source = node.args[0] if pre_relu and self._is_relu(node) else node
        env = self._run(x, [node, source])
        return self._checked(layer, env[source]) if pre_relu else self._analysed(layer, env)

    def layer_activations(self, x, layers):
        """The units of each of ``layers``, from one pass."""
        env = self._run(x, [self._node(layer) for layer in layers])
        return {layer: self._analysed(layer, env) for layer in layers}

    @torch.no_grad()
    def layer_width(self, layer: str, image_shape) -> int:
        probe = torch.zeros(1, *image_shape, device=self.normalize.mean.device)
        return self.forward_to(probe, layer).shape[1]

    def cut(self, x, layer):
        """The network cut at ``layer`` for a batch ``x``: its output there and the rest."""
        node = self._node(layer)
        env = self._run(x, [self.output, node])
        self._checked(layer, env[node])
        return GraphCut(self, env, node)

    def incoming(self, layer):
        """The convolution or linear map that makes the layer's units, and the BatchNorm that
        scales them (or None); None where the path back is not a single chain (a sum)."""
        node, batch_norm = self._node(layer), None
        while node.op == "call_module" or self._is_relu(node):
            module = self.net.get_submodule(node.target) if node.op == "call_module" else nn.ReLU()
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                return module, batch_norm
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and batch_norm is None:
                batch_norm = module
            elif not isinstance(module, PASS_THROUGH):
                return None
            if len(node.all_input_nodes) != 1:
                return None
            node = node.all_input_nodes[0]
        return None

    def successor(self, layer):
        """None: a graph's later nodes may read more than the layer (a skip connection)."""
        return None

    @torch.no_grad()
    def candidates(self, image_shape):
        """(name, kind, width, relu) of every node whose output has a channel dimension: kind
        "conv" for (images, channels, H, W), "vector" for (images, units); relu says whether
        the node is a ReLU (other nodes are analysed through one unless ``rectify`` is off)."""
        probe = torch.zeros(2, *image_shape)
        env = self._run(probe, [self.output])
        found = []
        for name, node in self.nodes.items():
            value = env.get(node)
            if isinstance(value, torch.Tensor) and value.dim() in (2, 4) and value.shape[0] == 2 \
                    and node is not self.output:
                found.append((name, CONV if value.dim() == 4 else VECTOR, value.shape[1], self._is_relu(node)))
        return found


class GraphCut:
    """A batch's intact values, from which the network re-runs after a node."""

    def __init__(self, model: GraphNet, env, node):
        self.model, self.env, self.node = model, env, node
        self.h, self.logits = env[node], env[model.output]
        after = model._after(node)
        inside = set(after) | {node}
        # values the re-run reads from outside it: a skip connection's input (one row per
        # image, gathered for the images re-run), or one computed from the weights alone
        outside = {i for n in after for i in n.all_input_nodes if i not in inside}
        self.per_image = [i for i in outside if i in model.per_image]
        self.shared = [i for i in outside if i not in model.per_image]
        sizes = [i.name for i in self.per_image if not isinstance(env[i], torch.Tensor)]
        if sizes:  # e.g. x.size(0) taken before the node: wrong for a batch of another size
            raise UserError(f"layer {[k for k, v in model.nodes.items() if v is node][0]!r} of {model.name}: the "
                            f"network after it reads {sizes[0]}, a value of the whole batch computed before it, so "
                            f"ablation cannot re-run it on other batches; choose a later layer")
        self.after = after

    def rest(self, h, images):
        """Logits of images ``images`` (indices into the batch), with ``h`` at the node."""
        env = {self.node: h, **{node: self.env[node][images] for node in self.per_image},
               **{node: self.env[node] for node in self.shared}}
        return self.model._evaluate(self.after, env)[self.model.output]
