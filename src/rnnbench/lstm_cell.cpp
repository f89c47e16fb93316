// Fused LSTM cell, forward and backward: one pass over one step's (E, B, 4H) gates per call.
// Built and loaded by rnnbench/kernels.py, which also holds the eager equivalent, once per
// instruction set: CPU_CAPABILITY (AVX2, AVX512) sets ATen's vector width, RNNBENCH_OPS the
// operator namespace (rnnbench_avx2, rnnbench_avx512: both builds may load in one process).
#include <algorithm>

#include <ATen/ATen.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>

using at::vec::Vectorized;

namespace {

template <typename T>
inline Vectorized<T> keep_nan(Vectorized<T> r, Vectorized<T> a) {  // NaN in, NaN out
  return Vectorized<T>::blendv(r, a, a != a);
}

template <typename T>
inline Vectorized<T> sigmoid(Vectorized<T> a) {  // as torch's sigmoid kernel (exp_u20: 2 ulp)
  // float32 exp_u20 maps NaN to a number: a diverged model must stay NaN, as in eager torch
  return keep_nan(((Vectorized<T>(T(0)) - a).exp_u20() + Vectorized<T>(T(1))).reciprocal(), a);
}

template <typename T>
inline Vectorized<T> tanh(Vectorized<T> a) {  // Sleef, 1 ulp
  return a.tanh();
}

template <>
inline Vectorized<float> tanh(Vectorized<float> a) {
  // Sleef's tanhf is 6x slower than torch's (MKL's): Eigen's rational approximation on
  // [-7.9053, 7.9053] (odd degree 13 / even degree 6), x itself below 4e-4, and +-1 from
  // |x| = 9 on, where float32 tanh rounds to +-1 (so 1 - tanh^2 is 0 there, as in torch);
  // within 4e-7 of tanh.
  using V = Vectorized<float>;
  using at::vec::fmadd;
  const V x = at::vec::clamp(a, V(-7.90531110763549805f), V(7.90531110763549805f));
  const V x2 = x * x;
  V p = fmadd(x2, V(-2.76076847742355e-16f), V(2.00018790482477e-13f));
  p = fmadd(x2, p, V(-8.60467152213735e-11f));
  p = fmadd(x2, p, V(5.12229709037114e-08f));
  p = fmadd(x2, p, V(1.48572235717979e-05f));
  p = fmadd(x2, p, V(6.37261928875436e-04f));
  p = fmadd(x2, p, V(4.89352455891786e-03f));
  V q = fmadd(x2, V(1.19825839466702e-06f), V(1.18534705686654e-04f));
  q = fmadd(x2, q, V(2.26843463243900e-03f));
  q = fmadd(x2, q, V(4.89352518554385e-03f));
  const V r = V::blendv(x * p / q, x, a.abs() < V(0.0004f));
  return keep_nan(V::blendv(r, V::blendv(V(1.f), V(-1.f), a < V(0.f)), a.abs() >= V(9.f)), a);
}

template <typename F>
void rows(const at::Tensor& ref, int64_t width, F f) {
  // f(e, b): row b of model e; every tensor is (E, B, width) with contiguous rows
  const int64_t n_b = ref.size(1), n = ref.size(0) * n_b;
  at::parallel_for(0, n, std::max<int64_t>(1, 16384 / width), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) f(r / n_b, r % n_b);
  });
}

template <typename T>
struct Rows {  // row (e, b) of an (E, B, W) tensor with contiguous rows
  T* data;
  int64_t s0, s1;
  explicit Rows(const at::Tensor& t) : data(t.data_ptr<T>()), s0(t.stride(0)), s1(t.stride(1)) {}
  T* operator()(int64_t e, int64_t b) const { return data + e * s0 + b * s1; }
};

template <typename T>
void forward_impl(const at::Tensor& a, const at::Tensor& z, const at::Tensor& c_prev,
                  const at::Tensor& c, const at::Tensor& h, const at::Tensor& x,
                  const at::Tensor& x_out) {
  using V = Vectorized<T>;
  const int64_t H = c.size(2), D = x.size(2);
  const Rows<T> ra(a), rz(z), rcp(c_prev), rc(c), rh(h), rx(x), rxo(x_out);
  rows(c, H, [&](int64_t e, int64_t b) {
    std::copy_n(rx(e, b), D, rxo(e, b));  // next to h in the joint input row: written while hot
    const T* ai = ra(e, b); const T* af = ai + H; const T* ag = af + H;
    const T* ao = ag + H;
    T* zi = rz(e, b); T* zf = zi + H; T* zg = zf + H; T* zo = zg + H;
    const T* cp = rcp(e, b);
    T* cn = rc(e, b); T* hn = rh(e, b);
    for (int64_t k = 0; k < H; k += V::size()) {
      const int64_t n = std::min<int64_t>(V::size(), H - k);  // the last vector may be partial
      V i = sigmoid(V::loadu(ai + k, n)), f = sigmoid(V::loadu(af + k, n));
      V g = tanh(V::loadu(ag + k, n)), o = sigmoid(V::loadu(ao + k, n));
      V cc = f * V::loadu(cp + k, n) + i * g, t = tanh(cc);
      i.store(zi + k, n); f.store(zf + k, n); g.store(zg + k, n); o.store(zo + k, n);
      cc.store(cn + k, n); (o * t).store(hn + k, n);
    }
  });
}

template <typename T>
void backward_impl(const at::Tensor& dh, const at::Tensor& dc, const at::Tensor& z,
                   const at::Tensor& c, const at::Tensor& c_prev) {
  using V = Vectorized<T>;
  const int64_t H = dh.size(2);
  const Rows<T> rdh(dh), rdc(dc), rz(z), rc(c), rcp(c_prev);
  rows(dh, H, [&](int64_t e, int64_t b) {
    T* zi = rz(e, b); T* zf = zi + H; T* zg = zf + H; T* zo = zg + H;
    const T* dhr = rdh(e, b); T* dcr = rdc(e, b);
    const T* cr = rc(e, b); const T* cp = rcp(e, b);
    const V one(T(1));
    for (int64_t k = 0; k < H; k += V::size()) {
      const int64_t n = std::min<int64_t>(V::size(), H - k);
      V i = V::loadu(zi + k, n), f = V::loadu(zf + k, n), g = V::loadu(zg + k, n);
      V o = V::loadu(zo + k, n), d_h = V::loadu(dhr + k, n);
      V t = tanh(V::loadu(cr + k, n));  // tanh(c_t) is not stored
      V d_c = V::loadu(dcr + k, n) + d_h * o * (one - t * t);
      (d_c * g * i * (one - i)).store(zi + k, n);
      (d_c * V::loadu(cp + k, n) * f * (one - f)).store(zf + k, n);
      (d_c * i * (one - g * g)).store(zg + k, n);
      (d_h * t * o * (one - o)).store(zo + k, n);
      (d_c * f).store(dcr + k, n);
    }
  });
}

void check(const char* op, std::initializer_list<std::pair<const at::Tensor*, int64_t>> args) {
  // every argument (E, B, width) with contiguous rows, of one dtype, on the CPU
  const at::Tensor& ref = *args.begin()->first;  // 3-d: checked by the caller
  for (const auto& [t, width] : args) {
    TORCH_CHECK(t->dim() == 3 && t->size(0) == ref.size(0) && t->size(1) == ref.size(1) &&
                    t->size(2) == width && (t->stride(2) == 1 || width == 1) &&
                    t->scalar_type() == ref.scalar_type() && t->device().is_cpu(),
                op, ": every argument must be a CPU (E, B, H) tensor ((E, B, 4H) for the gates, "
                "(E, B, D) for the inputs) with contiguous rows and one dtype");
  }
}

void lstm_forward(at::Tensor a, at::Tensor z, at::Tensor c_prev, at::Tensor c, at::Tensor h,
                  at::Tensor x, at::Tensor x_out) {
  TORCH_CHECK(c.dim() == 3 && x.dim() == 3, "lstm_forward: c must be (E, B, H), x (E, B, D)");
  const int64_t H = c.size(2), D = x.size(2);
  check("lstm_forward",
        {{&c, H}, {&a, 4 * H}, {&z, 4 * H}, {&c_prev, H}, {&h, H}, {&x, D}, {&x_out, D}});
  for (const at::Tensor* out : {&z, &c, &h, &x_out}) at::assert_no_internal_overlap(*out);
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "lstm_forward", [&] {
    forward_impl<scalar_t>(a, z, c_prev, c, h, x, x_out);
  });
}

void lstm_backward(at::Tensor dh, at::Tensor dc, at::Tensor z, at::Tensor c, at::Tensor c_prev) {
  TORCH_CHECK(dh.dim() == 3, "lstm_backward: dh must be (E, B, H)");
  const int64_t H = dh.size(2);
  check("lstm_backward", {{&dh, H}, {&dc, H}, {&z, 4 * H}, {&c, H}, {&c_prev, H}});
  for (const at::Tensor* out : {&dc, &z}) at::assert_no_internal_overlap(*out);
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "lstm_backward", [&] {
    backward_impl<scalar_t>(dh, dc, z, c, c_prev);
  });
}

}  // namespace

#define RNNBENCH_LIBRARY(ns, m) TORCH_LIBRARY(ns, m)  // expands RNNBENCH_OPS first
#define RNNBENCH_LIBRARY_IMPL(ns, m) TORCH_LIBRARY_IMPL(ns, CPU, m)

RNNBENCH_LIBRARY(RNNBENCH_OPS, m) {
  m.def("lstm_forward(Tensor a, Tensor(a!) z, Tensor c_prev, Tensor(b!) c, Tensor(c!) h, "
        "Tensor x, Tensor(d!) x_out) -> ()");
  m.def("lstm_backward(Tensor dh, Tensor(a!) dc, Tensor(b!) z, Tensor c, Tensor c_prev) -> ()");
}

RNNBENCH_LIBRARY_IMPL(RNNBENCH_OPS, m) {
  m.impl("lstm_forward", lstm_forward);
  m.impl("lstm_backward", lstm_backward);
}
