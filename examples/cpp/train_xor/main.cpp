// Trains XOR entirely in C++ and saves the model (load it with examples/cpp/predict, or in Python with
// fastann.models.load_model).
//
//   train_xor [MODEL_FILE]        (default xor.fastann)
#include <cstdio>
#include <fastann/fastann.hpp>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "xor.fastann";
  const float x[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  const float y[4] = {0, 1, 1, 0};
  try {
    fastann::Sequential model;
    model.add(fastann::Dense(8, "tanh").with_input_dim(2));
    model.add(fastann::Dense(1, "sigmoid"));
    model.build(2, /*seed=*/1);
    fastann::OptimizerConfig adam = fastann::OptimizerConfig::defaults("adam");
    adam.learning_rate = 0.05;
    model.compile(adam, {"binary_crossentropy"}, {"accuracy"});

    // Views of the arrays above: fastann reads them in place.
    const fastann::Tensor xt = fastann::Tensor::view(&x[0][0], {4, 2});
    const fastann::Tensor yt = fastann::Tensor::view(y, {4, 1});
    fastann::FitOptions options;
    options.batch_size = 4;
    options.epochs = 100;
    options.seed = 1;
    bool solved = false;
    int epochs = 0;
    for (int round = 0; round < 50 && !solved; ++round) {
      const fastann::History history = model.fit(xt, yt, options);
      epochs += options.epochs;
      solved = history["accuracy"].back() == 1.0 && history["loss"].back() < 0.1;
    }
    const fastann::Tensor p = model.predict(xt);
    const std::vector<double> scores = model.evaluate(xt, yt);
    std::printf("trained XOR for %d epochs: loss %.4f, accuracy %.2f\n", epochs, scores[0], scores[1]);
    for (int i = 0; i < 4; ++i) {
      std::printf("  %g xor %g -> %.9g\n", x[i][0], x[i][1], static_cast<double>(p.data()[i]));
    }
    if (!solved) {
      std::fprintf(stderr, "train_xor: XOR was not learned\n");
      return 1;
    }
    fastann::save_model(model, path);
    std::printf("saved %s\n", path.c_str());
  } catch (const fastann::Error& e) {
    std::fprintf(stderr, "train_xor: %s\n", e.what());
    return 1;
  }
  return 0;
}
