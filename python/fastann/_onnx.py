"""ONNX export of a built Sequential model (the `onnx` package is an optional extra: pip install fastann[onnx]).

The graph takes "input" of shape (batch, *input_shape) float32 and gives "output" (batch, outputs) float32:
each Dense layer is a Gemm (kernel (in, out) as B, bias as C), each activation the ONNX operator that computes what
the C++ kernels in csrc/ops/activation/cpu.cpp compute. Dropout is the identity at inference (no node);
BatchNormalization is ONNX's BatchNormalization in inference mode with the moving statistics (gamma 1 / beta 0
when the layer has none).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from . import _core

# Opset 17 is run by every onnxruntime since 1.13 and has all the operators needed except Gelu (opset 20), which
# is composed from Erf below opset 20. Softmax's axis semantics changed in opset 13; older opsets are refused.
DEFAULT_OPSET = 17
MIN_OPSET = 13

# Activation parameters the C++ core uses (csrc/ops/types.cpp, csrc/ops/activation/cpu.cpp). leaky_relu and elu
# use these defaults unless the layer has its own alpha (activation_alpha in the model's JSON config, e.g. from a
# model file written in C++).
_DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805

_MISSING_ONNX = "ONNX export needs the 'onnx' package: pip install fastann[onnx]"
_MAX_PROTO_BYTES = 2**31 - 1  # protobuf's limit for one serialised message


def _import_onnx():
    try:
        import onnx
        import onnx.checker
        import onnx.helper
        import onnx.numpy_helper
    except ImportError as e:
        raise ImportError(_MISSING_ONNX) from e
    return onnx


class _GraphBuilder:
    """Collects nodes and initializers; `emit` appends one node and returns the name of its output. Names derive
    from the layer names and are made unique (layer names may contain '/')."""

    def __init__(self, onnx, opset):
        self.onnx = onnx
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self._constants = {}
        self._used = {"input", "output"}

    def _unique(self, name):
        candidate, k = name, 1
        while candidate in self._used:
            candidate = f"{name}_{k}"
            k += 1
        self._used.add(candidate)
        return candidate

    def emit(self, op, inputs, out, **attrs):
        out = self._unique(out)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def tensor(self, name, array):
        name = self._unique(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name))
        return name

    def scalar(self, value):
        """A shared float32 scalar initializer (broadcast by Mul/Add)."""
        key = float(np.float32(value))
        if key not in self._constants:
            self._constants[key] = self.tensor(f"const_{len(self._constants)}", np.array(key, np.float32))
        return self._constants[key]

    def activation(self, act, x, prefix, alpha=None):
        """Appends the nodes of activation `act` (leaky_relu/elu: with `alpha`, None for the core's default) applied
        to tensor x; returns the output tensor's name."""
        out = f"{prefix}/{act}"
        if alpha is None:
            alpha = _DEFAULT_ALPHA.get(act)
        if act == "linear":
            return x
        if act == "relu":
            return self.emit("Relu", [x], out)
        if act == "sigmoid":
            return self.emit("Sigmoid", [x], out)
        if act == "tanh":
            return self.emit("Tanh", [x], out)
        if act == "softmax":
            return self.emit("Softmax", [x], out, axis=-1)
        if act == "leaky_relu":
            return self.emit("LeakyRelu", [x], out, alpha=float(alpha))
        if act == "elu":
            return self.emit("Elu", [x], out, alpha=float(alpha))
        if act == "selu":
            return self.emit("Selu", [x], out, alpha=_SELU_ALPHA, gamma=_SELU_SCALE)
        if act == "softplus":
            return self.emit("Softplus", [x], out)
        if act == "swish":  # x * sigmoid(x)
            s = self.emit("Sigmoid", [x], f"{out}/sigmoid")
            return self.emit("Mul", [x, s], out)
        if act == "softsign":
            return self.emit("Softsign", [x], out)
        if act == "hard_sigmoid":  # max(0, min(1, x / 6 + 1/2)): Keras 3's relu6(x + 3) / 6
            return self.emit("HardSigmoid", [x], out, alpha=1.0 / 6.0, beta=0.5)
        if act == "hard_silu":  # x * hard_sigmoid(x)
            return self.emit("HardSwish", [x], out)
        if act == "exponential":
            return self.emit("Exp", [x], out)
        if act == "mish":  # x * tanh(softplus(x)); opset 18 has Mish itself
            if self.opset >= 18:
                return self.emit("Mish", [x], out)
            t = self.emit("Softplus", [x], f"{out}/softplus")
            t = self.emit("Tanh", [t], f"{out}/tanh")
            return self.emit("Mul", [x, t], out)
        if act == "gelu":  # the core's exact form: 0.5 x (1 + erf(x / sqrt(2)))
            if self.opset >= 20:
                return self.emit("Gelu", [x], out, approximate="none")
            t = self.emit("Mul", [x, self.scalar(1.0 / math.sqrt(2.0))], f"{out}/scaled")
            t = self.emit("Erf", [t], f"{out}/erf")
            t = self.emit("Add", [t, self.scalar(1.0)], f"{out}/one_plus")
            t = self.emit("Mul", [x, t], f"{out}/x_times")
            return self.emit("Mul", [t, self.scalar(0.5)], out)
        raise NotImplementedError(f"ONNX export does not support the activation '{act}' yet")


def _check_opset(onnx, opset):
    if opset is None:
        return DEFAULT_OPSET
    latest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not MIN_OPSET <= opset <= latest:
        raise ValueError(f"export: opset must be an integer from {MIN_OPSET} to {latest} (the newest this onnx "
                         f"package knows), got {opset!r}")
    return int(opset)


def build_onnx_model(model, opset=None):
    """The ONNX ModelProto of a built fastann Sequential model (checked with onnx.checker)."""
    if not model.built:
        raise ValueError("export: the model is not built yet; give the first layer input_dim, or call "
                         "model.build((None, features)) or fit/predict first")
    onnx = _import_onnx()
    opset = _check_opset(onnx, opset)
    helper = onnx.helper
    g = _GraphBuilder(onnx, opset)

    core = model._core
    entries = json.loads(core.config_json())["layers"]
    x = "input"
    for i, layer in enumerate(model.layers):
        info = core.layer_info(i)
        kind, act = info["type"], info["activation"]
        alpha = entries[i]["config"].get("activation_alpha")
        prefix = layer.name
        if kind == "Dense" and len(info["input_shape"]) > 1:  # the kernel maps the last axis: MatMul (+ Add)
            weights = core.get_layer_weights(i)
            x = g.emit("MatMul", [x, g.tensor(f"{prefix}/kernel", weights[0])], f"{prefix}/matmul")
            if info["use_bias"]:
                x = g.emit("Add", [x, g.tensor(f"{prefix}/bias", weights[1])], f"{prefix}/bias_add")
        elif kind == "Dense":
            weights = core.get_layer_weights(i)
            inputs = [x, g.tensor(f"{prefix}/kernel", weights[0])]
            if info["use_bias"]:
                inputs.append(g.tensor(f"{prefix}/bias", weights[1]))
            x = g.emit("Gemm", inputs, f"{prefix}/gemm")
        elif kind == "Flatten":
            x = g.emit("Flatten", [x], f"{prefix}/flatten", axis=1)
            continue
        elif kind == "Reshape":
            shape = g._unique(f"{prefix}/shape")  # 0 keeps the batch dimension
            g.initializers.append(onnx.numpy_helper.from_array(np.array([0, *info["output_shape"]], np.int64), shape))
            x = g.emit("Reshape", [x, shape], f"{prefix}/reshape")
            continue
        elif kind == "Dropout":
            continue  # identity at inference
        elif kind == "BatchNormalization" and len(info["input_shape"]) > 1:
            raise NotImplementedError(f"ONNX export of BatchNormalization over inputs of more than one axis is not "
                                      f"supported yet (layer '{layer.name}')")
        elif kind == "BatchNormalization":
            named = dict(zip(info["weight_names"], core.get_layer_weights(i)))
            width = info["output_dim"]
            scale = named.get("gamma", np.ones(width, np.float32))
            bias = named.get("beta", np.zeros(width, np.float32))
            inputs = [x, g.tensor(f"{prefix}/gamma", scale), g.tensor(f"{prefix}/beta", bias),
                      g.tensor(f"{prefix}/moving_mean", named["moving_mean"]),
                      g.tensor(f"{prefix}/moving_variance", named["moving_variance"])]
            x = g.emit("BatchNormalization", inputs, f"{prefix}/batchnorm",
                       epsilon=float(entries[i]["config"]["epsilon"]))
            continue
        elif kind != "Activation":
            raise NotImplementedError(f"ONNX export does not support {kind} layers yet (layer '{layer.name}')")
        x = g.activation(act, x, prefix, alpha)

    if not g.nodes:  # only linear activations: the graph still needs a node from input to output
        g.nodes.append(helper.make_node("Identity", [x], ["output"], name="output"))
    else:  # the last node's result (x) becomes the graph's output
        g.nodes[-1].output[0] = "output"

    batch = "batch"
    graph = helper.make_graph(
        g.nodes, model.name,
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [batch, *core.input_shape])],
        [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [batch, *core.output_shape])],
        initializer=g.initializers)
    opset_imports = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opset_imports, producer_name="fastann",
                              producer_version=_core.__version__)
    # The lowest IR version that carries this opset, so that older onnxruntime releases load the file too.
    proto.ir_version = helper.find_min_ir_version_for(opset_imports)
    if proto.ByteSize() > _MAX_PROTO_BYTES:
        raise ValueError(f"export: the model's weights ({core.count_params():,} parameters) are too large for one "
                         "ONNX file (2 GiB protobuf limit)")
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model, path, opset=None):
    """Writes `model` (a built fastann Sequential) to `path` as an ONNX file; returns the ModelProto.

    The file is written to a temporary file in the same folder and then renamed over `path`, so `path` never holds
    a partial file.
    """
    proto = build_onnx_model(model, opset)
    # As the model file: a temporary file beside the target renamed over it, a symbolic link followed, the replaced
    # file's permissions kept.
    _core._write_file_atomically(os.fsencode(path), proto.SerializeToString(), "ONNX file")
    return proto
