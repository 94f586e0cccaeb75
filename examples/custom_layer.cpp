// Trains the user-written Highway layer (examples/custom_layer.hpp) to fit a small target.
#include "custom_layer.hpp"

#include <iostream>

using namespace ember;

int main() {
  manual_seed(0);
  Highway layer(8);
  nn::Linear head(8, 1);
  std::vector<Tensor> params = layer.parameters();
  for (Tensor& p : head.parameters()) params.push_back(p);
  Tensor x = randn({64, 8});
  Tensor y = sum(x * x, {1}, true) / 8.f;  // a smooth target
  float first = 0, last = 0;
  for (int step = 0; step < 200; ++step) {
    Tensor loss = nn::functional::mse_loss(head(layer(x)), y);
    for (Tensor& p : params) p.clear_grad();
    loss.backward();
    NoGradGuard no_grad;
    for (Tensor& p : params) p.data() -= 0.05f * p.grad().data();
    if (step == 0) first = loss.item();
    last = loss.item();
  }
  std::cout << layer << "\n";
  std::cout << "loss: " << first << " -> " << last << "\n";
  return last < first ? 0 : 1;
}
