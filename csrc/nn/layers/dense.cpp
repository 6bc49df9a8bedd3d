// Dense: y = activation(x @ kernel + bias) over the last axis; kernel (in, units), bias (units). Keras's Dense.
#include <memory>

#include "core/check.hpp"
#include "nn/layer.hpp"
#include "nn/layers/config_json.hpp"
#include "ops/ops.hpp"

namespace fastann {

namespace {
nn::Json dense_json(const Dense& d) {
  nn::Json c = nn::Json::object();
  c.set("units", d.units);
  c.set("activation", d.activation.name);
  c.set("activation_alpha", nn::number_or_null(d.activation.alpha));
  c.set("use_bias", d.use_bias);
  c.set("kernel_initializer", nn::initializer_json(d.kernel_initializer));
  c.set("bias_initializer", nn::initializer_json(d.bias_initializer));
  c.set("kernel_regularizer", nn::regularizer_json(d.kernel_regularizer));
  c.set("bias_regularizer", nn::regularizer_json(d.bias_regularizer));
  c.set("activity_regularizer", nn::regularizer_json(d.activity_regularizer));
  return c;
}
}  // namespace

LayerSpec to_spec(const Dense& d) {
  nn::Json c = dense_json(d);
  c.set("name", d.name);
  nn::set_input_shape(c, d.input_dim > 0 ? Shape{d.input_dim} : Shape{});
  return {"Dense", c.dump()};
}

}  // namespace fastann

namespace fastann::nn {

namespace {

const Tensor kNoTensor;  // an absent operand, made once (not per step)

class DenseLayer final : public Layer {
 public:
  DenseLayer(const Dense& cfg, std::string name, Shape declared)
      : Layer(std::move(name), cfg.activation, std::move(declared)), cfg_(cfg) {
    FASTANN_CHECK_ARG(cfg.units > 0, "Dense: units must be a positive integer, got " << cfg.units);
    // Reject unknown initializer names now rather than at build time.
    Tensor none = Tensor::empty({0});
    initialize(cfg.kernel_initializer, none, 1, 1, 0);
    initialize(cfg.bias_initializer, none, 1, 1, 0);
    check_regularizer(cfg.kernel_regularizer, "Dense: kernel_regularizer");
    check_regularizer(cfg.bias_regularizer, "Dense: bias_regularizer");
    check_regularizer(cfg.activity_regularizer, "Dense: activity_regularizer");
    param_regs_ = {cfg.kernel_regularizer};
    if (cfg.use_bias) param_regs_.push_back(cfg.bias_regularizer);
    activity_reg_ = cfg.activity_regularizer;
  }

  const char* type() const override { return "Dense"; }
  bool use_bias() const override { return cfg_.use_bias; }
  std::vector<std::string> weight_names() const override {
    if (cfg_.use_bias) return {"kernel", "bias"};
    return {"kernel"};
  }
  std::vector<Shape> param_shapes() const override {
    std::vector<Shape> s{{input_dim(), cfg_.units}};
    if (cfg_.use_bias) s.push_back({cfg_.units});
    return s;
  }
  void init_params(uint64_t seed) override {
    initialize(cfg_.kernel_initializer, params_[0], input_dim(), cfg_.units, seed);
    if (cfg_.use_bias) initialize(cfg_.bias_initializer, params_[1], input_dim(), cfg_.units, seed + 1);
  }
  void prepare(int64_t max_batch) override {
    // (rows of all leading axes, units): the pre-activation, kept in training when the derivative needs it.
    const int64_t rows = checked_mul(max_batch, input_size() / input_dim(), [&] {
      return "Dense '" + name_ + "': a batch of " + std::to_string(max_batch) + " rows of shape " +
             shape_str(input_shape_);
    });
    const bool keep_z = act_.kind != ops::Act::linear && !ops::act_grad_from_output(act_);
    if (keep_z && (!z_.defined() || z_.dim(0) < rows)) z_ = Tensor::empty({rows, cfg_.units}, device_);
  }
  void set_device(Device device) override {
    if (device != device_) z_ = Tensor();
    Layer::set_device(device);
  }

  void forward(const Tensor& x_in, Tensor& y_in, bool training, bool logits) override {
    // N-D inputs: the kernel maps the last axis; the leading axes are rows.
    LazyView xv, yv, zv;
    const Tensor& x = matrix_of(x_in, xv);
    Tensor& y = matrix_of(y_in, yv);
    const Tensor* bias = cfg_.use_bias ? &params_[1] : nullptr;
    if (logits || act_.kind == ops::Act::linear) {
      ops::gemm(false, false, 1.0f, x, params_[0], 0.0f, y, bias);
    } else if (training && !ops::act_grad_from_output(act_)) {
      // The derivative needs the pre-activation: keep z, then y = act(z).
      Tensor& z = first_rows(z_, x.dim(0), zv);
      ops::gemm(false, false, 1.0f, x, params_[0], 0.0f, z, bias);
      ops::activation_forward(act_, z, y);
    } else {
      ops::gemm(false, false, 1.0f, x, params_[0], 0.0f, y, bias, &act_);  // bias + activation fused
    }
  }

  void backward(const Tensor& x_in, const Tensor& y_in, Tensor& dy_in, Tensor* dx_in, bool logits) override {
    // dz = dy * act'(.) in place; dW = x^T dz (in, units); db = sum_rows dz; dx = dz W^T (rows, in).
    LazyView xv, yv, dyv, zv, dxv;
    const Tensor& x = matrix_of(x_in, xv);
    const Tensor& y = matrix_of(y_in, yv);
    Tensor& dy = matrix_of(dy_in, dyv);
    if (!logits && act_.kind != ops::Act::linear) {
      if (ops::act_grad_from_output(act_)) {
        ops::activation_backward(act_, kNoTensor, y, dy, dy);
      } else {
        ops::activation_backward(act_, first_rows(z_, x.dim(0), zv), y, dy, dy);
      }
    }
    ops::gemm(true, false, 1.0f, x, dy, 0.0f, grads_[0]);
    if (cfg_.use_bias) ops::bias_grad(dy, grads_[1]);
    if (dx_in) {
      ops::gemm(false, true, 1.0f, dy, params_[0], 0.0f, matrix_of(*dx_in, dxv));
    }
  }

 protected:
  Shape compute_output_shape(const Shape& in) const override {
    Shape out = in;
    out.back() = cfg_.units;
    return out;
  }
  void write_config(Json& c) const override {
    const Json own = dense_json(cfg_);  // kept alive for the loop
    for (const auto& kv : own.as_object("")) c.set(kv.first, kv.second);
  }

 private:
  Dense cfg_;
  Tensor z_;
};

std::unique_ptr<Layer> create(const Json& c, const std::string& cp, std::string name) {
  Dense d(c.at("units", cp).as_int(cp + ".units", 1, kMaxDim));
  d.activation = activation_from(c, cp);
  d.use_bias = c.at("use_bias", cp).as_bool(cp + ".use_bias");
  d.kernel_initializer = initializer_from(c.at("kernel_initializer", cp), cp + ".kernel_initializer");
  d.bias_initializer = initializer_from(c.at("bias_initializer", cp), cp + ".bias_initializer");
  d.kernel_regularizer = regularizer_from(c, "kernel_regularizer", cp);
  d.bias_regularizer = regularizer_from(c, "bias_regularizer", cp);
  d.activity_regularizer = regularizer_from(c, "activity_regularizer", cp);
  return std::make_unique<DenseLayer>(d, std::move(name), input_shape_from(c, cp));
}

}  // namespace

void register_dense(Registry<LayerEntry>& r) { r.add("Dense", {"dense", &create}); }

}  // namespace fastann::nn
