// Storage is a byte buffer with a dtype and a version; a tensor is one inline layout over it.
// An op's Array becomes a tensor's storage without a copy, and saved values read the storage
// without one.
#include <doctest/doctest.h>

#include <ember/ember.hpp>
#include <utility>

using namespace ember;

TEST_CASE("a storage is bytes, their dtype and a version; tensors hold a layout over it") {
  Storage s(6, kFloat32);
  CHECK(s.nbytes() == 24);
  CHECK(s.numel() == 6);
  CHECK(s.dtype() == kFloat32);
  CHECK(std::string(dtype_name(s.dtype())) == "float32");
  CHECK_THROWS_AS(Storage(-1, kFloat32), ShapeError);

  Tensor t = arange(6.f);
  CHECK(t.dtype() == kFloat32);
  Tensor m = t.reshape({2, 3});
  CHECK(m.impl()->storage == t.impl()->storage);
  CHECK_FALSE(m.is_view());  // its whole storage, read contiguously: the fast path
  CHECK(m.impl()->layout.shape == Dims{2, 3});
  CHECK(m.impl()->layout.strides == Dims{3, 1});
  Tensor col = m.narrow(1, 1, 1);
  CHECK(col.is_view());
  CHECK(col.impl()->layout.offset == 1);
  CHECK(col.to_vector() == std::vector<float>{1, 4});
  CHECK_THROWS_AS(Tensor(std::make_shared<Storage>(4, kFloat32), Shape{2, 3}), ShapeError);
}

TEST_CASE("an Array becomes a tensor's storage without a copy, and is read back without one") {
  Array values = Array::from_shape({3, 4});
  for (size_t i = 0; i < values.size(); ++i) values.data()[i] = static_cast<float>(i);
  const float* block = values.data();
  Tensor t(std::move(values), true);
  CHECK(t.data_ptr() == block);
  CHECK(t.shape() == Shape{3, 4});
  CHECK(t.to_vector()[11] == 11.f);

  const SavedValues saved = t.storage();
  CHECK((*saved).data() == block);  // borrows the storage
  CHECK((*saved).shape()[1] == 4);
  const SavedValues copy = saved;  // a copy borrows it too: no elements are copied
  CHECK(copy->data() == block);

  // A copy of a borrowing Array owns its elements: writing it leaves the tensor alone.
  Array own = *saved;
  own.data()[0] = -1.f;
  CHECK(own.data() != block);
  CHECK(t.to_vector()[0] == 0.f);
}

TEST_CASE("a step's tiny results reuse freed blocks instead of calling malloc") {
  const float* first = nullptr;
  {
    Tensor a = ones({4, 4});
    first = a.data_ptr();
  }
  Tensor b = zeros({4, 4});  // the same size class, freed just before
  CHECK(b.data_ptr() == first);
  CHECK(b.to_vector() == std::vector<float>(16, 0.f));
}
