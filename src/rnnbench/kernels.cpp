// Fused LSTM cell, forward and backward: one pass over one step's (E, B, 4H) gates per call;
// and the time loops of every cell's training pass (cells/*.py) and probe, one call each.
// Built and loaded by rnnbench/kernels.py, which also holds the eager equivalents, once per
// instruction set: CPU_CAPABILITY (AVX2, AVX512) sets ATen's vector width, RNNBENCH_OPS the
// operator namespace (rnnbench_avx2, rnnbench_avx512: both builds may load in one process).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <type_traits>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/library.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

using at::Tensor;
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
  // Sleef's tanhf is 6x slower than torch's (MKL's), and that is 5x slower than this on an AMD
  // EPYC. |x| < 0.8: x + x^3 q(x^2), q fitted to tanh (minimax in relative error: 0.9 float32
  // steps); else sign(x) (1 - 2 / (exp(2|x|) + 1)), exp(2|x|) capped at exp(20), where tanh
  // rounds to 1. Within 1.4 float32 steps of tanh and one step of torch's everywhere, also near
  // +-1, where 1 - tanh^2 (its gradient) is a difference of nearly equal numbers. (The second
  // formula alone cancels below 0.8: 9 steps off at |x| = 0.2.)
  using V = Vectorized<float>;
  using at::vec::fmadd;
  const V ax = a.abs(), x2 = a * a;
  V q = fmadd(x2, V(0.0015775796491652727f), V(-0.007395680528134108f));
  q = fmadd(x2, q, V(0.021292932331562042f));
  q = fmadd(x2, q, V(-0.053848981857299805f));
  q = fmadd(x2, q, V(0.13332171738147736f));
  q = fmadd(x2, q, V(-0.33333295583724976f));
  const V small = fmadd(a * x2, q, a);
  const V t = V(1.f) - V(2.f) / ((at::vec::minimum(ax, V(10.f)) * V(2.f)).exp_u20() + V(1.f));
  const V big = V::blendv(t, V(0.f) - t, a < V(0.f));
  return keep_nan(V::blendv(big, small, ax < V(0.8f)), a);
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

template <typename T, int rw>
void prefetch(const T* row, int64_t n) {  // a row's cache lines into L1; rw 1: to be written
  const char* p = reinterpret_cast<const char*>(row);
  for (int64_t k = 0; k < n * int64_t(sizeof(T)); k += 64) __builtin_prefetch(p + k, rw, 3);
}

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
    if (b + 8 < dh.size(1)) {  // the gates and c were written long before: fetch them ahead
      prefetch<T, 1>(rz(e, b + 8), 4 * H);
      prefetch<T, 0>(rc(e, b + 8), H);
      prefetch<T, 0>(rcp(e, b + 8), H);
    }
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

// out = tanh(a), both (E, B, W) with contiguous rows (may be one tensor): in float32 the fused
// cell's tanh, in float64 Sleef's (1 ulp). torch's (MKL's) tanh is slower than the float32 one
// on some CPUs (benchmarks/README.md).
template <typename T>
void tanh_impl(const at::Tensor& a, const at::Tensor& out) {
  using V = Vectorized<T>;
  const int64_t W = a.size(2);
  const Rows<T> ra(a), ro(out);
  rows(out, W, [&](int64_t e, int64_t b) {
    const T* x = ra(e, b);
    T* y = ro(e, b);
    for (int64_t k = 0; k < W; k += V::size()) {
      const int64_t n = std::min<int64_t>(V::size(), W - k);
      tanh(V::loadu(x + k, n)).store(y + k, n);
    }
  });
}

void tanh_into(const at::Tensor& a, const at::Tensor& out) {
  TORCH_CHECK(a.dim() == 3, "tanh: a must be (E, B, W)");
  check("tanh", {{&a, a.size(2)}, {&out, a.size(2)}});
  at::assert_no_internal_overlap(out);
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "tanh", [&] { tanh_impl<scalar_t>(a, out); });
}

// --- time loops: the same ATen calls, in the same order, as the cells' Python loops (so the
// vanilla RNN's numbers are those of the Python loop to the bit), without a Python round trip
// per step ----------------------------------------------------------------------------------

enum class Act { linear, tanh, sigmoid, relu };

Act activation(c10::string_view name) {
  const std::string_view n(name.data(), name.size());
  if (n == "linear") return Act::linear;
  if (n == "tanh") return Act::tanh;
  if (n == "sigmoid") return Act::sigmoid;
  TORCH_CHECK(n == "relu", "rnn_forward: unknown nonlinearity '", n, "'");
  return Act::relu;
}

void apply(Act act, const Tensor& a, Tensor& out) {  // out = f(a)
  switch (act) {
    case Act::linear: out.copy_(a); break;
    case Act::tanh: tanh_into(a, out); break;
    case Act::sigmoid: at::sigmoid_out(out, a); break;
    case Act::relu: at::clamp_min_out(out, a, 0); break;
  }
}

void apply_grad(Act act, const Tensor& dh, const Tensor& h, Tensor& out) {  // dh f'(a), h = f(a)
  switch (act) {
    case Act::linear: out.copy_(dh); break;
    case Act::tanh: at::tanh_backward_out(out, dh, h); break;
    case Act::sigmoid: at::sigmoid_backward_out(out, dh, h); break;
    case Act::relu: at::threshold_backward_out(out, dh, h, 0); break;
  }
}

void check_loop(const char* op, bool ok) {
  TORCH_CHECK(ok, op, ": arguments do not have the shapes the cells' loops give them");
}

// dLoss/dh_t into dh_bufs[t % 2] from the pre-activation gradients da (E, B, k) of step t + 1:
// the read-out's gradient at t (every-step tasks, dh_out (E, L, B, H)) plus da W; dh_out
// (E, B, H) or undefined: no read-out term.
Tensor dh_step(int64_t t, const Tensor& da, const Tensor& w, const Tensor& dh_out, Tensor& dh0,
               Tensor& dh1) {
  Tensor& out = t % 2 ? dh1 : dh0;
  if (dh_out.defined() && dh_out.dim() == 4) {
    at::baddbmm_out(out, dh_out.select(1, t - 1), da, w);
  } else {
    at::bmm_out(out, da, w);
  }
  return out;
}

Tensor last_dh(const Tensor& dh_out) {  // dLoss/dh_L
  return dh_out.dim() == 4 ? dh_out.select(1, dh_out.size(1) - 1) : dh_out;
}

Tensor flat(const Tensor& t) {  // (E, n, B, W) -> (E, n B, W)
  return t.reshape({t.size(0), -1, t.size(3)});
}

// torch's MKL (when it has one) keeps its own thread count, not told that it runs inside a
// parallel region: each of its calls there tried to start threads, a large share of the RNN's
// time loop. One thread for MKL on this thread while in scope (a no-op without MKL).
extern "C" int MKL_Set_Num_Threads_Local(int) __attribute__((weak));

struct MklSerial {
  const int before = MKL_Set_Num_Threads_Local ? MKL_Set_Num_Threads_Local(1) : 0;
  ~MklSerial() {
    if (MKL_Set_Num_Threads_Local) MKL_Set_Num_Threads_Local(before);
  }
};

// Denormal flushing (torch.set_flush_denormal, runtime.setup) is per thread, and ATen's worker
// threads keep the mode they started with: each runs the caller's while in scope, so that a
// model's numbers do not depend on the thread that computes them (a no-op off x86).
struct CallersFlush {
#if defined(__x86_64__) || defined(_M_X64)
  static constexpr unsigned kBits = 0x8040;  // MXCSR: flush to zero, denormals are zero
  const unsigned before = _mm_getcsr();
  explicit CallersFlush(unsigned caller) { _mm_setcsr((before & ~kBits) | (caller & kBits)); }
  ~CallersFlush() { _mm_setcsr(before); }
  static unsigned mode() { return _mm_getcsr(); }
#else
  explicit CallersFlush(unsigned) {}
  static unsigned mode() { return 0; }
#endif
};

// The models split among the threads, each running the whole time loop for its own models (on
// one thread, in ATen's nested parallel region): no fork and join per step and operation, and
// each core keeps its own models' data. f(part), part(t, dim = 0) narrows t to those models.
template <typename F>
void by_models(int64_t n_models, F f) {
  const int64_t threads = std::min<int64_t>(at::get_num_threads(), n_models);
  const unsigned flush = CallersFlush::mode();
  at::parallel_for(0, n_models, (n_models + threads - 1) / threads, [&](int64_t lo, int64_t hi) {
    const at::NoGradGuard no_grad;  // as the caller (the cells' loops): grad mode is per thread
    const MklSerial mkl_serial;
    const CallersFlush callers_flush(flush);
    f([lo, hi](const Tensor& t, int64_t dim = 0) { return t.narrow(dim, lo, hi - lo); });
  });
}

// x1 (E, L, B, D+1) = [x, 1]; u_b (E, D+1, H); w_t = W^T (E, H, H); h (E, L+1, B, H), h_0 set;
// a (E, B, H) scratch. h_{t+1} = f(x1_t u_b + h_t w_t).
void rnn_forward(Tensor x1, Tensor u_b, Tensor w_t, Tensor h, Tensor a, c10::string_view f) {
  const Act act = activation(f);
  const int64_t L = x1.size(1);
  check_loop("rnn_forward", x1.dim() == 4 && h.dim() == 4 && h.size(1) == L + 1);
  by_models(x1.size(0), [&](auto part) {
    const Tensor x1_ = part(x1), u_b_ = part(u_b), w_t_ = part(w_t), h_ = part(h);
    Tensor a_ = part(a);
    for (int64_t t = 0; t < L; ++t) {
      at::bmm_out(a_, x1_.select(1, t), u_b_);
      a_.baddbmm_(h_.select(1, t), w_t_);
      Tensor h_next = h_.select(1, t + 1);
      apply(act, a_, h_next);
    }
  });
}

// rnn_backward for the models of one thread.
void rnn_backward_part(const Tensor& h, const Tensor& x1, const Tensor& w, const Tensor& dh_out,
                       Tensor dh0, Tensor dh1, const Tensor& da, Tensor d_w, Tensor d_ub, Act act) {
  const int64_t L = x1.size(1), C = da.size(1);
  Tensor dh = last_dh(dh_out);
  for (int64_t stop = L; stop > 0; stop -= C) {
    const int64_t start = std::max<int64_t>(0, stop - C), n = stop - start;
    for (int64_t t = stop - 1; t >= start; --t) {
      Tensor da_t = da.select(1, t - start);
      apply_grad(act, dh, h.select(1, t + 1), da_t);
      if (t > 0) dh = dh_step(t, da_t, w, dh_out, dh0, dh1);
    }
    const Tensor d = flat(da.narrow(1, 0, n));
    const Tensor h_t = flat(h.narrow(1, start, n)).transpose(1, 2);
    const Tensor x_t = flat(x1.narrow(1, start, n)).transpose(1, 2);
    if (stop == L) {
      at::bmm_out(d_w, h_t, d);
      at::bmm_out(d_ub, x_t, d);
    } else {
      d_w.baddbmm_(h_t, d);
      d_ub.baddbmm_(x_t, d);
    }
  }
}

// The backward of rnn_forward: dLoss/da_t into the ring da (E, C, B, H), and per chunk of C
// steps d_w += h_{t-1}^T da_t (dW^T, (E, H, H)) and d_ub += x1_t^T da_t ((E, D+1, H)), the
// first chunk's products starting the sums. dh_out: (E, B, H) or (E, L, B, H); dh0, dh1 scratch.
void rnn_backward(Tensor h, Tensor x1, Tensor w, Tensor dh_out, Tensor dh0, Tensor dh1, Tensor da,
                  Tensor d_w, Tensor d_ub, c10::string_view f) {
  const Act act = activation(f);
  const int64_t L = x1.size(1), C = da.size(1);
  check_loop("rnn_backward", x1.dim() == 4 && h.dim() == 4 && h.size(1) == L + 1 &&
                                 da.dim() == 4 && C > 0);
  by_models(h.size(0), [&](auto part) {
    rnn_backward_part(part(h), part(x1), part(w), part(dh_out), part(dh0), part(dh1), part(da),
                      part(d_w), part(d_ub), act);
  });
}

// hx (E, L+1, B, H+D+1): [h_t, x_{t+1}, 1], hx_0 set; wx (E, H+D+1, 4H); x (L, E, B, D);
// z (E, L, B, 4H) gate values out; c (E, L+1, B, H), c_0 set; a (E, B, 4H) scratch.
void lstm_forward_loop(Tensor hx, Tensor wx, Tensor x, Tensor z, Tensor c, Tensor a) {
  const int64_t L = z.size(1), H = c.size(-1), D = x.size(-1);
  check_loop("lstm_forward_loop", hx.dim() == 4 && hx.size(1) == L + 1 && x.dim() == 4 &&
                                      x.size(0) == L && c.dim() == 4 && c.size(1) == L + 1);
  by_models(z.size(0), [&](auto part) {
    const Tensor hx_ = part(hx), wx_ = part(wx), x_ = part(x, 1), z_ = part(z), c_ = part(c);
    Tensor a_ = part(a);
    for (int64_t t = 0; t < L; ++t) {
      at::bmm_out(a_, hx_.select(1, t), wx_);
      const Tensor next = hx_.select(1, t + 1);  // x_{L+1} (never read) := x_L
      lstm_forward(a_, z_.select(1, t), c_.select(1, t), c_.select(1, t + 1),
                   next.narrow(2, 0, H), x_.select(0, std::min(t + 1, L - 1)),
                   next.narrow(2, H, D));
    }
  });
}

// The backward of lstm_forward_loop: z's gate values overwritten with dLoss/da; dc (E, B, H)
// zero in; w = W (E, 4H, H); dh_out, dh0, dh1 as in rnn_backward.
void lstm_backward_loop(Tensor z, Tensor c, Tensor w, Tensor dh_out, Tensor dc, Tensor dh0,
                        Tensor dh1) {
  const int64_t L = z.size(1);
  check_loop("lstm_backward_loop", z.dim() == 4 && c.dim() == 4 && c.size(1) == L + 1);
  by_models(z.size(0), [&](auto part) {
    const Tensor z_ = part(z), c_ = part(c), w_ = part(w), dh_out_ = part(dh_out), dc_ = part(dc);
    Tensor dh0_ = part(dh0), dh1_ = part(dh1), dh = last_dh(dh_out_);
    for (int64_t t = L - 1; t >= 0; --t) {
      const Tensor z_t = z_.select(1, t);
      lstm_backward(dh, dc_, z_t, c_.select(1, t + 1), c_.select(1, t));
      if (t > 0) dh = dh_step(t, z_t, w_, dh_out_, dh0_, dh1_);
    }
  });
}

// GRU (cells/gru.py _forward): x1 (E, L, B, D+1); per gate r, z, n u_b [U_g; b_g]^T (E, D+1, H)
// and w_t W_g^T (E, H, H); b_hn (E, 1, H); z (4, E, L, B, H) out: r, z, n and W_n h + b_hn;
// h (E, L+1, B, H), h_0 set; a (3, E, B, H) scratch.
void gru_forward(Tensor x1, at::TensorList u_b, at::TensorList w_t, Tensor b_hn, Tensor z,
                 Tensor h, Tensor a) {
  const int64_t L = x1.size(1);
  check_loop("gru_forward", x1.dim() == 4 && h.dim() == 4 && h.size(1) == L + 1 &&
                                z.dim() == 5 && z.size(0) == 4 && z.size(2) == L &&
                                u_b.size() == 3 && w_t.size() == 3 && a.size(0) == 3);
  by_models(x1.size(0), [&](auto part) {
    const Tensor x1_ = part(x1), b_hn_ = part(b_hn), z_ = part(z, 1), h_ = part(h);
    const Tensor u[] = {part(u_b[0]), part(u_b[1]), part(u_b[2])};
    const Tensor w[] = {part(w_t[0]), part(w_t[1]), part(w_t[2])};
    const Tensor a_ = part(a, 1), a_rz = a_.narrow(0, 0, 2);
    Tensor a_g[] = {a_[0], a_[1], a_[2]};
    for (int64_t t = 0; t < L; ++t) {
      const Tensor x1_t = x1_.select(1, t), h_prev = h_.select(1, t), z_t = z_.select(2, t);
      for (int64_t g = 0; g < 3; ++g) at::bmm_out(a_g[g], x1_t, u[g]);
      a_g[0].baddbmm_(h_prev, w[0]);
      a_g[1].baddbmm_(h_prev, w[1]);
      Tensor rz = z_t.narrow(0, 0, 2), n = z_t[2], hn = z_t[3], h_next = h_.select(1, t + 1);
      at::sigmoid_out(rz, a_rz);
      at::baddbmm_out(hn, b_hn_, h_prev, w[2]);
      tanh_into(at::addcmul_out(n, a_g[2], z_t[0], hn), n);
      at::sub_out(h_next, h_prev, n).mul_(z_t[1]).add_(n);  // n + z (h - n)
    }
  });
}

// One GRU step back, from dh = dLoss/dh_{t+1} and h_t: z_t's gate values (r, z, n,
// W_n h + b_hn) overwritten with dLoss/d(a_r, a_z, a_n, W_n h + b_hn); direct = dh z (the path
// through h_{t+1} = ... + z h_t); tmp scratch.
void gru_gates_back(const Tensor& z_t, const Tensor& h_t, const Tensor& dh, Tensor& direct,
                    Tensor& tmp) {
  Tensor r = z_t[0], zg = z_t[1], n = z_t[2], hn = z_t[3];
  at::sub_out(tmp, h_t, n).mul_(dh);  // dLoss/dz
  at::mul_out(direct, dh, zg);
  at::sigmoid_backward_out(zg, tmp, zg);
  at::sub_out(tmp, dh, direct);  // dLoss/dn = dh (1 - z)
  at::tanh_backward_out(n, tmp, n);
  at::mul_out(tmp, n, hn);  // dLoss/dr
  at::mul_out(hn, n, r);
  at::sigmoid_backward_out(r, tmp, r);
}

// dLoss/dh_t = (read-out term, as dh_step) + sum over gates of da_g W_g + direct; blocks: the
// rows of W per gate r, z, n (E, H, H).
Tensor gru_dh(int64_t t, const Tensor& z_t, const Tensor* blocks, const Tensor& dh_out,
              const Tensor& direct, Tensor& dh0, Tensor& dh1) {
  Tensor dh = dh_step(t, z_t[0], blocks[0], dh_out, dh0, dh1);
  return dh.baddbmm_(z_t[1], blocks[1]).baddbmm_(z_t[3], blocks[2]).add_(direct);
}

// The backward of gru_forward, in chunks of C steps as rnn_backward: z overwritten with
// dLoss/d(a_r, a_z, a_n, W_n h + b_hn); w = W (E, 3H, H); dh_out, dh0, dh1 as in rnn_backward;
// direct, tmp (E, B, H) scratch; per gate r, z and n d_w (E, H, H): dW_g^T (n: through W_n h),
// d_ub (E, D+1, H): [dU_g; db_g]^T. Separate tensors, as the Python loop's: MKL's sums can
// depend on where the output starts (seen on an AMD EPYC: an offset of 1-3 floats changed them).
void gru_backward(Tensor z, Tensor h, Tensor x1, Tensor w, Tensor dh_out, Tensor direct,
                  Tensor tmp, Tensor dh0, Tensor dh1, at::TensorList d_w, at::TensorList d_ub,
                  int64_t C) {
  const int64_t L = x1.size(1), H = h.size(-1);
  check_loop("gru_backward", z.dim() == 5 && z.size(0) == 4 && z.size(2) == L && h.dim() == 4 &&
                                 h.size(1) == L + 1 && d_w.size() == 3 && d_ub.size() == 3 &&
                                 C > 0);
  by_models(z.size(1), [&](auto part) {
    const Tensor z_ = part(z, 1), h_ = part(h), x1_ = part(x1), dh_out_ = part(dh_out);
    const Tensor w_ = part(w);
    const Tensor sums[] = {part(d_w[0]), part(d_w[1]), part(d_w[2]),
                           part(d_ub[0]), part(d_ub[1]), part(d_ub[2])};
    const Tensor blocks[] = {w_.narrow(1, 0, H), w_.narrow(1, H, H), w_.narrow(1, 2 * H, H)};
    Tensor direct_ = part(direct), tmp_ = part(tmp), dh0_ = part(dh0), dh1_ = part(dh1);
    Tensor dh = last_dh(dh_out_);
    for (int64_t stop = L; stop > 0; stop -= C) {
      const int64_t start = std::max<int64_t>(0, stop - C), n_steps = stop - start;
      for (int64_t t = stop - 1; t >= start; --t) {
        const Tensor z_t = z_.select(2, t);
        gru_gates_back(z_t, h_.select(1, t), dh, direct_, tmp_);
        if (t > 0) dh = gru_dh(t, z_t, blocks, dh_out_, direct_, dh0_, dh1_);
      }
      const Tensor da = z_.narrow(2, start, n_steps);
      const Tensor h_t = flat(h_.narrow(1, start, n_steps)).transpose(1, 2);
      const Tensor x_t = flat(x1_.narrow(1, start, n_steps)).transpose(1, 2);
      const std::pair<Tensor, Tensor> pairs[] = {
          {h_t, flat(da[0])}, {h_t, flat(da[1])}, {h_t, flat(da[3])},
          {x_t, flat(da[0])}, {x_t, flat(da[1])}, {x_t, flat(da[2])}};
      for (int64_t i = 0; i < 6; ++i) {
        Tensor sum = sums[i];
        const auto& [a, b] = pairs[i];
        stop == L ? at::bmm_out(sum, a, b) : sum.baddbmm_(a, b);
      }
    }
  });
}

// --- the small-size path (H <= kSmall: the pipeline's hidden sizes): the vanilla RNN's, the
// LSTM's and the GRU's time loops with no ATen call per step. There a step's products are a few
// thousand FMAs per model, and the ATen calls around them (bmm, baddbmm, views, the activation)
// cost more than the arithmetic. Here each model's weights are copied once per pass into rows
// padded to whole vectors (in L1), each step's products are register-blocked (R rows of the
// batch at a time, an output vector's sums in a register, stored to padded rows in L1), the
// elementwise work follows on those rows in the same pass over the block, and the weight
// gradients are summed inside the loop, in L1.
// Every sum is a chain of FMAs in a fixed order (over k; over t = L-1..0, then b = 0..B-1), one
// lane per output, and every product added to something an explicit FMA (what the compiler
// contracts by itself differed between the rows of a block): the same numbers in the AVX2 and
// the AVX-512 build, on any thread and in any row, and the cells' Python loops' up to float rounding
// (their products sum in MKL's order). ----------------------------------------------------------

#if defined(CPU_CAPABILITY_AVX512)
constexpr int kAcc = 16;  // vector accumulators a product keeps in registers (of 32)
#else
constexpr int kAcc = 8;  // (of 16)
#endif
constexpr int64_t kSmall = 32;  // the largest H of the small-size path (kernels.SMALL_HIDDEN)
// Loops over a block's rows and vectors unrolled in full: the accumulators then live in registers
// (an array indexed in a loop stays in memory) and the rows' activations interleave.
#define UNROLL _Pragma("GCC unroll 32")

template <typename T>
class Scratch {  // n values, zeroed, 64-byte aligned: one model's padded weights, sums or rows
 public:
  explicit Scratch(int64_t n)
      : data_(static_cast<T*>(std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64))) {
    TORCH_CHECK(data_ != nullptr, "out of memory");
    std::fill_n(data_, n, T(0));
  }
  ~Scratch() { std::free(data_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return data_; }

 private:
  T* data_;
};

template <typename T>
struct Rows4 {  // row (e, t, b) of an (E, L, B, W) tensor with contiguous rows
  T* data;
  int64_t s0, s1, s2;
  explicit Rows4(const Tensor& t)
      : data(t.data_ptr<T>()), s0(t.stride(0)), s1(t.stride(1)), s2(t.stride(2)) {}
  T* operator()(int64_t e, int64_t t, int64_t b) const { return data + e * s0 + t * s1 + b * s2; }
};

template <typename T>
struct ReadOut {  // dLoss/dh from the read-out: (E, B, H) for h_L, or (E, L, B, H) for h_1..h_L
  const T* data;
  int64_t s0, s1, sb, last;
  bool every;
  explicit ReadOut(const Tensor& t)
      : data(t.data_ptr<T>()), s0(t.stride(0)), s1(t.dim() == 4 ? t.stride(1) : 0),
        sb(t.stride(-2)), last(t.dim() == 4 ? t.size(1) - 1 : 0), every(t.dim() == 4) {}
  const T* at(int64_t e, int64_t t) const { return data + e * s0 + t * s1; }  // row 0 of h_{t+1}
  const T* final(int64_t e) const { return at(e, last); }                     // of h_L
};

// f(std::integral_constant<int, NV>()): the fewest vectors of T, NV = 1, 2, 4 or 8, that hold n
// lanes (only the NV that a row of kSmall lanes may need are instantiated)
template <typename T, typename F>
void with_vectors(int64_t n, F f) {
  constexpr int64_t VS = Vectorized<T>::size();
  TORCH_CHECK(n >= 1 && n <= kSmall, "the small-size path takes 1 <= H <= ", kSmall, ", got ", n);
  const int64_t nv = (n + VS - 1) / VS;
  if (nv == 1) return f(std::integral_constant<int, 1>());
  if constexpr (VS < kSmall) {
    if (nv <= 2) return f(std::integral_constant<int, 2>());
  }
  if constexpr (2 * VS < kSmall) {
    if (nv <= 4) return f(std::integral_constant<int, 4>());
  }
  if constexpr (4 * VS < kSmall) return f(std::integral_constant<int, 8>());
}

template <int R, typename F>
inline void row_blocks(int64_t n_rows, F f) {  // f(b, rows): rows b.. in blocks of R, then 1 by 1
  int64_t b = 0;
  for (; b + R <= n_rows; b += R) f(b, std::integral_constant<int, R>());
  for (; b < n_rows; ++b) f(b, std::integral_constant<int, 1>());
}

template <typename T>
inline int64_t lanes(int64_t n, int64_t j) {  // lanes of vector j in a row of n (<= 0: none)
  return std::min<int64_t>(Vectorized<T>::size(), n - j * Vectorized<T>::size());
}

template <typename T>
inline Vectorized<T> load(const T* p, int64_t m) {  // m lanes, the rest zero
  return m >= Vectorized<T>::size() ? Vectorized<T>::loadu(p)
         : m > 0                    ? Vectorized<T>::loadu(p, m)
                                    : Vectorized<T>(T(0));
}

template <typename T>
inline void store(Vectorized<T> v, T* p, int64_t m) {
  if (m > 0) v.store(p, std::min<int64_t>(m, Vectorized<T>::size()));
}

// a[r][j] (+)= sum_{k < K} x[r ldx + k] w[k][j]: R rows of a (NJ vectors each, lda apart, in L1;
// Zero: from 0, else added to), x times w (K rows of NJ vectors, padded, in L1); each lane a
// chain of FMAs over k in order. The accumulators are this function's own (loaded and stored
// here): kept in registers, where an array shared with the caller's elementwise code stayed in
// memory.
template <typename T, int R, int NJ, bool Zero>
inline __attribute__((always_inline)) void mul_rows(T* a, int64_t lda, const T* x, int64_t ldx,
                                                    const T* w, int64_t K) {
  using V = Vectorized<T>;
  constexpr int64_t VS = V::size();
  V acc[R][NJ];
  UNROLL
  for (int r = 0; r < R; ++r)
    UNROLL
    for (int j = 0; j < NJ; ++j) acc[r][j] = Zero ? V(T(0)) : V::loadu(a + r * lda + j * VS);
  for (int64_t k = 0; k < K; ++k) {
    V wk[NJ];
    UNROLL
    for (int j = 0; j < NJ; ++j) wk[j] = V::loadu(w + (k * NJ + j) * VS);
    UNROLL
    for (int r = 0; r < R; ++r) {
      const V xr(x[r * ldx + k]);
      UNROLL
      for (int j = 0; j < NJ; ++j) acc[r][j] = at::vec::fmadd(xr, wk[j], acc[r][j]);
    }
  }
  UNROLL
  for (int r = 0; r < R; ++r)
    UNROLL
    for (int j = 0; j < NJ; ++j) acc[r][j].store(a + r * lda + j * VS);
}

template <typename T, int NV, int KB>
inline __attribute__((always_inline)) void add_outer_block(T* s, const T* x, int64_t ldx,
                                                           int64_t k0, const T* d, int64_t ldd,
                                                           int64_t n_rows) {
  using V = Vectorized<T>;
  constexpr int64_t VS = V::size();
  V acc[KB][NV];
  UNROLL
  for (int kk = 0; kk < KB; ++kk)
    UNROLL
    for (int j = 0; j < NV; ++j) acc[kk][j] = V::loadu(s + ((k0 + kk) * NV + j) * VS);
  for (int64_t b = 0; b < n_rows; ++b) {
    V dv[NV];
    UNROLL
    for (int j = 0; j < NV; ++j) dv[j] = V::loadu(d + b * ldd + j * VS);
    UNROLL
    for (int kk = 0; kk < KB; ++kk) {
      const V xv(x[b * ldx + k0 + kk]);
      UNROLL
      for (int j = 0; j < NV; ++j) acc[kk][j] = at::vec::fmadd(xv, dv[j], acc[kk][j]);
    }
  }
  UNROLL
  for (int kk = 0; kk < KB; ++kk)
    UNROLL
    for (int j = 0; j < NV; ++j) acc[kk][j].store(s + ((k0 + kk) * NV + j) * VS);
}

// s[k][j] += sum_{b < n_rows} x[b ldx + k] d[b ldd + j]: the K rows of NV vectors of s (padded,
// in L1) summed over rows of x and d, KB rows of s at a time in registers (then KB/2, ...); each
// lane a chain of FMAs over b in order
template <typename T, int NV, int KB = std::max(1, kAcc / NV)>
void add_outer(T* s, const T* x, int64_t ldx, int64_t K, const T* d, int64_t ldd, int64_t n_rows,
               int64_t k = 0) {
  for (; k + KB <= K; k += KB) add_outer_block<T, NV, KB>(s, x, ldx, k, d, ldd, n_rows);
  if constexpr (KB > 1) {
    if (k < K) add_outer<T, NV, KB / 2>(s, x, ldx, K, d, ldd, n_rows, k);
  }
}

// a[r][j] = bias[j] for R rows of NJ vectors (lda apart): where a product starts
template <typename T, int R, int NJ>
inline __attribute__((always_inline)) void with_bias(T* a, int64_t lda, const T* bias) {
  using V = Vectorized<T>;
  UNROLL
  for (int r = 0; r < R; ++r)
    UNROLL
    for (int j = 0; j < NJ; ++j) V::loadu(bias + j * V::size()).store(a + r * lda + j * V::size());
}

// s += [x, 1]^T d for rows of x (D columns, ldx apart): the D + 1 rows of NV vectors of s, the
// last the bias's (each input column and the implicit one a row of add_outer)
template <typename T, int NV>
void add_inputs(T* s, const T* x, int64_t ldx, int64_t D, const T* d, int64_t ldd, int64_t n_rows) {
  const T one(1);
  add_outer<T, NV>(s, x, ldx, D, d, ldd, n_rows);
  add_outer<T, NV>(s + D * NV * Vectorized<T>::size(), &one, 0, 1, d, ldd, n_rows);
}

// out[k][j] = w[k][j] for the K x n block w (strides sk, sn); out rows ldo apart (zero-padded)
template <typename T>
void pad(const T* w, int64_t sk, int64_t sn, int64_t K, int64_t n, T* out, int64_t ldo) {
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < n; ++j) out[k * ldo + j] = w[k * sk + j * sn];
}

// the K x n block of s (rows lds apart) into out (strides ok, on)
template <typename T>
void unpad(const T* s, int64_t lds, int64_t K, int64_t n, T* out, int64_t ok, int64_t on) {
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < n; ++j) out[k * ok + j * on] = s[k * lds + j];
}

template <typename F>
void with_act(Act act, F f) {  // f(std::integral_constant<Act, act>()): the activation inlined
  switch (act) {
    case Act::linear: return f(std::integral_constant<Act, Act::linear>());
    case Act::tanh: return f(std::integral_constant<Act, Act::tanh>());
    case Act::sigmoid: return f(std::integral_constant<Act, Act::sigmoid>());
    case Act::relu: return f(std::integral_constant<Act, Act::relu>());
  }
}

template <Act A, typename T>
inline Vectorized<T> act_vec(Vectorized<T> a) {  // f(a), as apply
  if constexpr (A == Act::tanh) return tanh(a);
  if constexpr (A == Act::sigmoid) return sigmoid(a);
  if constexpr (A == Act::relu) return at::vec::maximum(a, Vectorized<T>(T(0)));  // NaN stays
  if constexpr (A == Act::linear) return a;
}

template <Act A, typename T>
inline Vectorized<T> act_grad_vec(Vectorized<T> dh, Vectorized<T> h) {
  // dh f'(a) from h = f(a), as ATen's tanh_backward, sigmoid_backward, threshold_backward
  using V = Vectorized<T>;
  if constexpr (A == Act::tanh) return dh * at::vec::fnmadd(h, h, V(T(1)));
  if constexpr (A == Act::sigmoid) return dh * (V(T(1)) - h) * h;
  if constexpr (A == Act::relu) return V::blendv(dh, V(T(0)), h <= V(T(0)));
  if constexpr (A == Act::linear) return dh;
}

template <typename T>
inline Vectorized<T> act_vec(Act act, Vectorized<T> a) {  // the same, act chosen at run time:
  switch (act) {  // one instantiation per dtype and size, not four (the build's time)
    case Act::tanh: return act_vec<Act::tanh>(a);
    case Act::sigmoid: return act_vec<Act::sigmoid>(a);
    case Act::relu: return act_vec<Act::relu>(a);
    default: return a;
  }
}

template <typename T>
inline Vectorized<T> act_grad_vec(Act act, Vectorized<T> dh, Vectorized<T> h) {
  switch (act) {
    case Act::tanh: return act_grad_vec<Act::tanh>(dh, h);
    case Act::sigmoid: return act_grad_vec<Act::sigmoid>(dh, h);
    case Act::relu: return act_grad_vec<Act::relu>(dh, h);
    default: return dh;
  }
}

template <typename T, int NV, Act A>  // A a template argument: the rows' tanh interleave
void rnn_forward_small_impl(const Tensor& x, const Tensor& u_b, const Tensor& w_t,
                            const Tensor& h) {
  using V = Vectorized<T>;
  constexpr int64_t VS = V::size(), W = NV * VS;
  constexpr int R = std::min(8, std::max(1, kAcc / NV));
  const int64_t L = x.size(0), B = x.size(2), D = x.size(3), H = h.size(3);
  const Rows4<T> rx(x), rh(h);  // x (L, E, B, D): rx(t, e, b)
  const auto ub = u_b.accessor<T, 3>();
  const auto wt = w_t.accessor<T, 3>();
  Scratch<T> ub_p((D + 1) * W), wt_p(H * W), a(B * W);  // [U; b]^T, W^T (padded rows); a_t
  for (int64_t e = 0; e < h.size(0); ++e) {
    pad(&ub[e][0][0], ub.stride(1), ub.stride(2), D + 1, H, ub_p.get(), W);
    pad(&wt[e][0][0], wt.stride(1), wt.stride(2), H, H, wt_p.get(), W);
    for (int64_t t = 0; t < L; ++t) {
      const T* x_t = rx(t, e, 0);
      const T* h_t = rh(e, t, 0);
      T* h_next = rh(e, t + 1, 0);
      row_blocks<R>(B, [&](int64_t b, auto rows) {
        constexpr int n = decltype(rows)::value;
        T* a_b = a.get() + b * W;
        with_bias<T, n, NV>(a_b, W, ub_p.get() + D * W);
        mul_rows<T, n, NV, false>(a_b, W, x_t + b * rx.s2, rx.s2, ub_p.get(), D);  // + U x_t
        mul_rows<T, n, NV, false>(a_b, W, h_t + b * rh.s2, rh.s2, wt_p.get(), H);  // + W h_t
        UNROLL
        for (int r = 0; r < n; ++r)
          UNROLL
          for (int j = 0; j < NV; ++j)
            store(act_vec<A>(V::loadu(a_b + r * W + j * VS)), h_next + (b + r) * rh.s2 + j * VS,
                  lanes<T>(H, j));
      });
    }
  }
}

template <typename T, int NV>
void rnn_backward_small_impl(const Tensor& h, const Tensor& x, const Tensor& w,
                             const Tensor& dh_out, const Tensor& d_w, const Tensor& d_ub, Act act) {
  using V = Vectorized<T>;
  constexpr int64_t VS = V::size(), W = NV * VS;
  constexpr int R = std::min(8, std::max(1, kAcc / NV));
  const int64_t L = x.size(0), B = x.size(2), D1 = x.size(3) + 1, H = h.size(3);
  const Rows4<T> rx(x), rh(h);
  const ReadOut<T> out(dh_out);
  const auto wa = w.accessor<T, 3>();
  // W (padded rows); dW^T, [dU; db]^T; dLoss/da_t and dLoss/dh_t of every row
  Scratch<T> w_p(H * W), dwt(H * W), dub(D1 * W), da(B * W), dh(B * W);
  for (int64_t e = 0; e < h.size(0); ++e) {
    pad(&wa[e][0][0], wa.stride(1), wa.stride(2), H, H, w_p.get(), W);
    std::fill_n(dwt.get(), H * W, T(0));
    std::fill_n(dub.get(), D1 * W, T(0));
    const T* h_last = rh(e, L, 0);
    for (int64_t b = 0; b < B; ++b)  // da_{L-1} = dLoss/dh_L f'(a_L)
      for (int j = 0; j < NV; ++j) {
        const int64_t m = lanes<T>(H, j);
        const V d_h = load(out.final(e) + b * out.sb + j * VS, m);
        act_grad_vec(act, d_h, load(h_last + b * rh.s2 + j * VS, m)).store(da.get() + b * W + j * VS);
      }
    for (int64_t t = L - 1; t >= 0; --t) {
      add_outer<T, NV>(dwt.get(), rh(e, t, 0), rh.s2, H, da.get(), W, B);  // += h_t^T da_t
      add_inputs<T, NV>(dub.get(), rx(t, e, 0), rx.s2, D1 - 1, da.get(), W, B);
      if (t == 0) break;
      const T* h_t = rh(e, t, 0);
      const T* read = out.every ? out.at(e, t - 1) : nullptr;  // dLoss/dh_t from the read-out
      row_blocks<R>(B, [&](int64_t b, auto rows) {  // da_{t-1} = (read + da_t W) f'(a_t)
        constexpr int n = decltype(rows)::value;
        T* dh_b = dh.get() + b * W;
        if (read) {
          UNROLL
          for (int r = 0; r < n; ++r)
            UNROLL
            for (int j = 0; j < NV; ++j)
              load(read + (b + r) * out.sb + j * VS, lanes<T>(H, j)).store(dh_b + r * W + j * VS);
          mul_rows<T, n, NV, false>(dh_b, W, da.get() + b * W, W, w_p.get(), H);
        } else {
          mul_rows<T, n, NV, true>(dh_b, W, da.get() + b * W, W, w_p.get(), H);
        }
        UNROLL
        for (int r = 0; r < n; ++r)
          UNROLL
          for (int j = 0; j < NV; ++j) {
            const V h_v = load(h_t + (b + r) * rh.s2 + j * VS, lanes<T>(H, j));
            act_grad_vec(act, V::loadu(dh_b + r * W + j * VS), h_v)
                .store(da.get() + (b + r) * W + j * VS);
          }
      });
    }
    unpad(dwt.get(), W, H, H, d_w.data_ptr<T>() + e * d_w.stride(0), d_w.stride(1), d_w.stride(2));
    unpad(dub.get(), W, D1, H, d_ub.data_ptr<T>() + e * d_ub.stride(0), d_ub.stride(1),
          d_ub.stride(2));
  }
}

template <typename T, int NV>
void lstm_forward_small_impl(const Tensor& hx, const Tensor& wx, const Tensor& x, const Tensor& z,
                             const Tensor& c, const Tensor& tc) {
  using V = Vectorized<T>;
  constexpr int64_t VS = V::size(), W = NV * VS;
  constexpr int R = std::min(8, std::max(1, kAcc / (4 * NV)));  // gates i, f, g, o
  const int64_t L = z.size(1), B = z.size(2), H = c.size(3), K = hx.size(3), D = x.size(3);
  const Rows4<T> rhx(hx), rz(z), rc(c), rtc(tc), rxs(x);  // x (L, E, B, D): rxs(t, e, b)
  const auto wa = wx.accessor<T, 3>();
  Scratch<T> w_p(K * 4 * W), a(B * 4 * W);  // [W^T; U^T; b], each gate padded; pre-activations
  for (int64_t e = 0; e < z.size(0); ++e) {
    for (int64_t g = 0; g < 4; ++g)
      pad(&wa[e][0][g * H], wa.stride(1), wa.stride(2), K, H, w_p.get() + g * W, 4 * W);
    for (int64_t t = 0; t < L; ++t) {
      const T* hx_t = rhx(e, t, 0);
      T* hx_next = rhx(e, t + 1, 0);
      T* z_t = rz(e, t, 0);
      const T* c_t = rc(e, t, 0);
      T* c_next = rc(e, t + 1, 0);
      T* tc_t = rtc(e, t, 0);
      const T* x_next = rxs(std::min(t + 1, L - 1), e, 0);  // x_{L+1} (never read) := x_L
      row_blocks<R>(B, [&](int64_t b, auto rows) {
        constexpr int n = decltype(rows)::value;
        T* a_b = a.get() + b * 4 * W;
        mul_rows<T, n, 4 * NV, true>(a_b, 4 * W, hx_t + b * rhx.s2, rhx.s2, w_p.get(), K);
        UNROLL
        for (int r = 0; r < n; ++r) {
          const int64_t row = b + r;
          const T* a_r = a_b + r * 4 * W;
          T* zr = z_t + row * rz.s2;
          std::copy_n(x_next + row * rxs.s2, D, hx_next + row * rhx.s2 + H);
          UNROLL
          for (int j = 0; j < NV; ++j) {
            const int64_t m = lanes<T>(H, j), at = j * VS;
            const V i = sigmoid(V::loadu(a_r + at)), f = sigmoid(V::loadu(a_r + W + at));
            const V g = tanh(V::loadu(a_r + 2 * W + at)), o = sigmoid(V::loadu(a_r + 3 * W + at));
            const V cc = at::vec::fmadd(f, load(c_t + row * rc.s2 + at, m), i * g), th = tanh(cc);
            store(i, zr + at, m);
            store(f, zr + H + at, m);
            store(g, zr + 2 * H + at, m);
            store(o, zr + 3 * H + at, m);
            store(cc, c_next + row * rc.s2 + at, m);
            store(th, tc_t + row * rtc.s2 + at, m);
            store(o * th, hx_next + row * rhx.s2 + at, m);
          }
        }
      });
    }
  }
}

// The LSTM's backward: per step the gates' gradients (as backward_impl, tanh(c_t) from the
// forward), stored over z_t and in padded rows da; d_wx += hx_t^T da_t; dh = read + da_t W.
template <typename T, int NV>
void lstm_backward_small_impl(const Tensor& z, const Tensor& c, const Tensor& tc, const Tensor& hx,
                              const Tensor& w, const Tensor& dh_out, const Tensor& d_wx) {
  using V = Vectorized<T>;
  constexpr int64_t VS = V::size(), W = NV * VS;
  constexpr int R = std::min(8, std::max(1, kAcc / NV));
  const int64_t L = z.size(1), B = z.size(2), H = c.size(3), K = hx.size(3);
  const Rows4<T> rz(z), rc(c), rtc(tc), rhx(hx);
  const ReadOut<T> out(dh_out);
  const auto wa = w.accessor<T, 3>();
  // W (4H rows); [dW^T; dU^T; db] (K rows of 4 gates); dLoss/dh_t, dLoss/dc_t, da_t (4 gates)
  Scratch<T> w_p(4 * H * W), dwx(K * 4 * W), dh(B * W), dc(B * W), da(B * 4 * W);
  const V one(T(1));
  for (int64_t e = 0; e < z.size(0); ++e) {
    pad(&wa[e][0][0], wa.stride(1), wa.stride(2), 4 * H, H, w_p.get(), W);
    std::fill_n(dwx.get(), K * 4 * W, T(0));
    std::fill_n(dc.get(), B * W, T(0));
    for (int64_t b = 0; b < B; ++b)
      for (int j = 0; j < NV; ++j)
        load(out.final(e) + b * out.sb + j * VS, lanes<T>(H, j)).store(dh.get() + b * W + j * VS);
    for (int64_t t = L - 1; t >= 0; --t) {
      T* z_t = rz(e, t, 0);
      const T* tc_t = rtc(e, t, 0);
      const T* c_prev = rc(e, t, 0);
      const T* read = out.every && t > 0 ? out.at(e, t - 1) : nullptr;
      row_blocks<R>(B, [&](int64_t b, auto rows) {
        constexpr int n = decltype(rows)::value;
        T* dh_b = dh.get() + b * W;
        UNROLL
        for (int r = 0; r < n; ++r) {
          const int64_t row = b + r;
          T* zr = z_t + row * rz.s2;
          T* dar = da.get() + row * 4 * W;
          UNROLL
          for (int j = 0; j < NV; ++j) {
            const int64_t m = lanes<T>(H, j), at = j * VS;
            const V i = load(zr + at, m), f = load(zr + H + at, m);
            const V g = load(zr + 2 * H + at, m), o = load(zr + 3 * H + at, m);
            const V d_h = V::loadu(dh_b + r * W + at), th = load(tc_t + row * rtc.s2 + at, m);
            const V d_c = at::vec::fmadd(d_h * o, at::vec::fnmadd(th, th, one),
                                         V::loadu(dc.get() + row * W + at));
            const V da_i = d_c * g * i * (one - i);
            const V da_f = d_c * load(c_prev + row * rc.s2 + at, m) * f * (one - f);
            const V da_g = d_c * i * at::vec::fnmadd(g, g, one), da_o = d_h * th * o * (one - o);
            store(da_i, zr + at, m);
            store(da_f, zr + H + at, m);
            store(da_g, zr + 2 * H + at, m);
            store(da_o, zr + 3 * H + at, m);
            da_i.store(dar + at);
            da_f.store(dar + W + at);
            da_g.store(dar + 2 * W + at);
            da_o.store(dar + 3 * W + at);
            (d_c * f).store(dc.get() + row * W + at);
          }
        }
        if (t == 0) return;
        if (read) {  // dLoss/dh_{t-1} = read + da_t W
          UNROLL
          for (int r = 0; r < n; ++r)
            UNROLL
            for (int j = 0; j < NV; ++j)
              load(read + (b + r) * out.sb + j * VS, lanes<T>(H, j)).store(dh_b + r * W + j * VS);
          mul_rows<T, n, NV, false>(dh_b, W, z_t + b * rz.s2, rz.s2, w_p.get(), 4 * H);
        } else {
          mul_rows<T, n, NV, true>(dh_b, W, z_t + b * rz.s2, rz.s2, w_p.get(), 4 * H);
        }
      });
      add_outer<T, 4 * NV>(dwx.get(), rhx(e, t, 0), rhx.s2, K, da.get(), 4 * W, B);
    }
    T* o = d_wx.data_ptr<T>() + e * d_wx.stride(0);
    for (int64_t g = 0; g < 4; ++g)
      unpad(dwx.get() + g * W, 4 * W, K, H, o + g * H * d_wx.stride(2), d_wx.stride(1),
            d_wx.stride(2));
  }
}

template <typename T>
struct Gates {  // row (e, t, b) of gate slot g of a (G, E, L, B, H) tensor with contiguous rows
  T* data;
  int64_t sg, s0, s1, s2;
  explicit Gates(const Tensor& t)
      : data(t.data_ptr<T>()), sg(t.stride(0)), s0(t.stride(1)), s1(t.stride(2)),
        s2(t.stride(3)) {}
  T* operator()(int64_t g, int64_t e, int64_t t, int64_t b) const {
    return data + g * sg + e * s0 + t * s1 + b * s2;
  }
};

// Pre-activation rows of the GRU's forward, W lanes per slot: U_n x + b_n, a_r, a_z, W_n h + b_hn
// (the input product fills slots 0-2, the recurrent one slots 1-3: the gates' products merged)
template <typename T, int NV>
void gru_forward_small_impl(const Tensor& x, at::TensorList u_b, at::TensorList w_t,
                            const Tensor& b_hn, const Tensor& z, const Tensor& h) {
  using V = Vectorized<T>;
  constexpr int64_t VS = V::size(), W = NV * VS;
  constexpr int R = std::min(8, std::max(1, kAcc / (3 * NV)));
  const int64_t L = x.size(0), B = x.size(2), D1 = x.size(3) + 1, H = h.size(3);
  const Rows4<T> rx(x), rh(h);
  const Gates<T> rz(z);
  const auto bhn = b_hn.accessor<T, 3>();
  // [U_g; b_g]^T of n, r, z; W_g^T of r, z, n; b_hn (padded); the pre-activation rows
  Scratch<T> ub_p(D1 * 3 * W), wt_p(H * 3 * W), bhn_p(W), a(B * 4 * W);
  const int slot_x[] = {1, 2, 0}, slot_h[] = {0, 1, 2};  // where gate r, z, n goes in each
  for (int64_t e = 0; e < h.size(0); ++e) {
    for (int g = 0; g < 3; ++g) {
      const auto ub = u_b[g].accessor<T, 3>();
      const auto wt = w_t[g].accessor<T, 3>();
      pad(&ub[e][0][0], ub.stride(1), ub.stride(2), D1, H, ub_p.get() + slot_x[g] * W, 3 * W);
      pad(&wt[e][0][0], wt.stride(1), wt.stride(2), H, H, wt_p.get() + slot_h[g] * W, 3 * W);
    }
    pad(&bhn[e][0][0], 0, bhn.stride(2), 1, H, bhn_p.get(), W);
    for (int64_t t = 0; t < L; ++t) {
      const T* x_t = rx(t, e, 0);
      const T* h_t = rh(e, t, 0);
      T* h_next = rh(e, t + 1, 0);
      row_blocks<R>(B, [&](int64_t b, auto rows) {
        constexpr int n = decltype(rows)::value;
        T* a_b = a.get() + b * 4 * W;
        with_bias<T, n, 3 * NV>(a_b, 4 * W, ub_p.get() + (D1 - 1) * 3 * W);  // b_n, b_r, b_z
        with_bias<T, n, NV>(a_b + 3 * W, 4 * W, bhn_p.get());                // b_hn
        mul_rows<T, n, 3 * NV, false>(a_b, 4 * W, x_t + b * rx.s2, rx.s2, ub_p.get(), D1 - 1);
        mul_rows<T, n, 3 * NV, false>(a_b + W, 4 * W, h_t + b * rh.s2, rh.s2, wt_p.get(), H);
        UNROLL
        for (int r = 0; r < n; ++r) {
          const int64_t row = b + r;
          const T* a_r = a_b + r * 4 * W;
          UNROLL
          for (int j = 0; j < NV; ++j) {
            const int64_t m = lanes<T>(H, j), at = j * VS;
            const V rg = sigmoid(V::loadu(a_r + W + at)), zg = sigmoid(V::loadu(a_r + 2 * W + at));
            const V hn = V::loadu(a_r + 3 * W + at);
            const V ng = tanh(at::vec::fmadd(rg, hn, V::loadu(a_r + at)));
            const V h_v = load(h_t + row * rh.s2 + at, m);
            store(rg, rz(0, e, t, row) + at, m);
            store(zg, rz(1, e, t, row) + at, m);
            store(ng, rz(2, e, t, row) + at, m);
            store(hn, rz(3, e, t, row) + at, m);
            store(at::vec::fmadd(h_v - ng, zg, ng), h_next + row * rh.s2 + at, m);  // n + z (h - n)
          }
        }
      });
    }
  }
}

// da rows of the GRU's backward, W lanes per slot: da_n, da_r, da_z, d(W_n h + b_hn); the
// sums dU^T [n, r, z] read slots 0-2, dW^T [r, z, n] slots 1-3
template <typename T, int NV>
void gru_backward_small_impl(const Tensor& z, const Tensor& h, const Tensor& x, const Tensor& w,
                             const Tensor& dh_out, at::TensorList d_w, at::TensorList d_ub) {
  using V = Vectorized<T>;
  constexpr int64_t VS = V::size(), W = NV * VS;
  constexpr int R = std::min(8, std::max(1, kAcc / NV));
  const int64_t L = x.size(0), B = x.size(2), D1 = x.size(3) + 1, H = h.size(3);
  const Rows4<T> rx(x), rh(h);
  const Gates<T> rz(z);
  const ReadOut<T> out(dh_out);
  const auto wa = w.accessor<T, 3>();
  Scratch<T> w_p(3 * H * W), dwt(H * 3 * W), dub(D1 * 3 * W), da(B * 4 * W), direct(B * W),
      dh(B * W);
  const V one(T(1));
  for (int64_t e = 0; e < z.size(1); ++e) {
    pad(&wa[e][0][0], wa.stride(1), wa.stride(2), 3 * H, H, w_p.get(), W);
    std::fill_n(dwt.get(), H * 3 * W, T(0));
    std::fill_n(dub.get(), D1 * 3 * W, T(0));
    for (int64_t b = 0; b < B; ++b)
      for (int j = 0; j < NV; ++j)
        load(out.final(e) + b * out.sb + j * VS, lanes<T>(H, j)).store(dh.get() + b * W + j * VS);
    for (int64_t t = L - 1; t >= 0; --t) {
      const T* h_t = rh(e, t, 0);
      for (int64_t b = 0; b < B; ++b) {  // the gates' gradients, as gru_gates_back
        T* zs[] = {rz(0, e, t, b), rz(1, e, t, b), rz(2, e, t, b), rz(3, e, t, b)};
        T* da_b = da.get() + b * 4 * W;
        UNROLL
        for (int j = 0; j < NV; ++j) {
          const int64_t m = lanes<T>(H, j), at = j * VS;
          const V rg = load(zs[0] + at, m), zg = load(zs[1] + at, m);
          const V ng = load(zs[2] + at, m), hn = load(zs[3] + at, m);
          const V d_h = V::loadu(dh.get() + b * W + at), h_v = load(h_t + b * rh.s2 + at, m);
          const V dir = d_h * zg;                         // through h_{t+1} = ... + z h_t
          const V da_z = (h_v - ng) * d_h * (one - zg) * zg;
          const V da_n = (d_h - dir) * at::vec::fnmadd(ng, ng, one);  // dLoss/dn = dh (1 - z)
          const V d_hn = da_n * rg;
          const V da_r = da_n * hn * (one - rg) * rg;
          store(da_r, zs[0] + at, m);
          store(da_z, zs[1] + at, m);
          store(da_n, zs[2] + at, m);
          store(d_hn, zs[3] + at, m);
          da_n.store(da_b + at);
          da_r.store(da_b + W + at);
          da_z.store(da_b + 2 * W + at);
          d_hn.store(da_b + 3 * W + at);
          dir.store(direct.get() + b * W + at);
        }
      }
      add_inputs<T, 3 * NV>(dub.get(), rx(t, e, 0), rx.s2, D1 - 1, da.get(), 4 * W, B);
      add_outer<T, 3 * NV>(dwt.get(), h_t, rh.s2, H, da.get() + W, 4 * W, B);
      if (t == 0) break;
      const T* read = out.every ? out.at(e, t - 1) : nullptr;
      row_blocks<R>(B, [&](int64_t b, auto rows) {  // read + sum over gates of da_g W_g + direct
        constexpr int n = decltype(rows)::value;
        T* dh_b = dh.get() + b * W;
        const T* da_b = da.get() + b * 4 * W;
        if (read) {
          UNROLL
          for (int r = 0; r < n; ++r)
            UNROLL
            for (int j = 0; j < NV; ++j)
              load(read + (b + r) * out.sb + j * VS, lanes<T>(H, j)).store(dh_b + r * W + j * VS);
          mul_rows<T, n, NV, false>(dh_b, W, da_b + W, 4 * W, w_p.get(), H);
        } else {
          mul_rows<T, n, NV, true>(dh_b, W, da_b + W, 4 * W, w_p.get(), H);
        }
        mul_rows<T, n, NV, false>(dh_b, W, da_b + 2 * W, 4 * W, w_p.get() + H * W, H);
        mul_rows<T, n, NV, false>(dh_b, W, da_b + 3 * W, 4 * W, w_p.get() + 2 * H * W, H);
        UNROLL
        for (int r = 0; r < n; ++r)
          UNROLL
          for (int j = 0; j < NV; ++j) {
            T* d = dh_b + r * W + j * VS;
            (V::loadu(d) + V::loadu(direct.get() + (b + r) * W + j * VS)).store(d);
          }
      });
    }
    for (int g = 0; g < 3; ++g) {  // d_w: dW_g^T for r, z, n; d_ub: [dU_g; db_g]^T
      const Tensor& dw = d_w[g];
      const Tensor& du = d_ub[g];
      unpad(dwt.get() + g * W, 3 * W, H, H, dw.data_ptr<T>() + e * dw.stride(0), dw.stride(1),
            dw.stride(2));
      unpad(dub.get() + (g + 1) % 3 * W, 3 * W, D1, H, du.data_ptr<T>() + e * du.stride(0),
            du.stride(1), du.stride(2));
    }
  }
}

// --- IndRNN (cells/indrnn.py): h_{t+1} = f(U x_t + b + u * h_t), elementwise in the state, for
// any H: per row and vector, the input projection as a chain of FMAs and the recurrence; in the
// backward the sums du and [dU; db]^T in L1, in the order t = L-1..0, b = 0..B-1. -------------

template <typename T>
void indrnn_forward_impl(const Tensor& x, const Tensor& u_b, const Tensor& u, const Tensor& h,
                         Act act) {
  using V = Vectorized<T>;
  constexpr int64_t VS = V::size();
  const int64_t L = x.size(0), B = x.size(2), D = x.size(3), H = h.size(3);
  const int64_t W = (H + VS - 1) / VS * VS;
  const Rows4<T> rx(x), rh(h);
  const auto ub = u_b.accessor<T, 3>();
  const auto ua = u.accessor<T, 2>();
  Scratch<T> ub_p((D + 1) * W), u_p(W);
  for (int64_t e = 0; e < h.size(0); ++e) {
    pad(&ub[e][0][0], ub.stride(1), ub.stride(2), D + 1, H, ub_p.get(), W);
    pad(&ua[e][0], 0, ua.stride(1), 1, H, u_p.get(), W);
    for (int64_t t = 0; t < L; ++t)
      for (int64_t b = 0; b < B; ++b) {
        const T* x_b = rx(t, e, b);
        const T* h_t = rh(e, t, b);
        T* h_next = rh(e, t + 1, b);
        for (int64_t k = 0; k < W; k += VS) {
          const int64_t m = std::min<int64_t>(VS, H - k);
          V a = V::loadu(ub_p.get() + D * W + k);  // b
          for (int64_t d = 0; d < D; ++d)
            a = at::vec::fmadd(V(x_b[d]), V::loadu(ub_p.get() + d * W + k), a);
          a = at::vec::fmadd(V::loadu(u_p.get() + k), load(h_t + k, m), a);
          store(act_vec(act, a), h_next + k, m);
        }
      }
  }
}

template <typename T>
void indrnn_backward_impl(const Tensor& h, const Tensor& x, const Tensor& u, const Tensor& dh_out,
                          const Tensor& d_u, const Tensor& d_ub, Act act) {
  using V = Vectorized<T>;
  constexpr int64_t VS = V::size();
  const int64_t L = x.size(0), B = x.size(2), D = x.size(3), H = h.size(3);
  const int64_t W = (H + VS - 1) / VS * VS;
  const Rows4<T> rx(x), rh(h);
  const ReadOut<T> out(dh_out);
  const auto ua = u.accessor<T, 2>();
  Scratch<T> u_p(W), du(W), dub((D + 1) * W), dh(B * W);
  for (int64_t e = 0; e < h.size(0); ++e) {
    pad(&ua[e][0], 0, ua.stride(1), 1, H, u_p.get(), W);
    std::fill_n(du.get(), W, T(0));
    std::fill_n(dub.get(), (D + 1) * W, T(0));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < W; k += VS)
        load(out.final(e) + b * out.sb + k, H - k).store(dh.get() + b * W + k);
    for (int64_t t = L - 1; t >= 0; --t) {
      const T* read = out.every && t > 0 ? out.at(e, t - 1) : nullptr;
      for (int64_t b = 0; b < B; ++b) {
        const T* x_b = rx(t, e, b);
        const T* h_t = rh(e, t, b);
        const T* h_next = rh(e, t + 1, b);
        for (int64_t k = 0; k < W; k += VS) {
          const int64_t m = std::min<int64_t>(VS, H - k);
          T* dh_k = dh.get() + b * W + k;
          const V da = act_grad_vec(act, V::loadu(dh_k), load(h_next + k, m));  // dLoss/da_{t+1}
          at::vec::fmadd(da, load(h_t + k, m), V::loadu(du.get() + k)).store(du.get() + k);
          for (int64_t d = 0; d < D; ++d) {
            T* s = dub.get() + d * W + k;
            at::vec::fmadd(V(x_b[d]), da, V::loadu(s)).store(s);
          }
          T* s = dub.get() + D * W + k;  // db
          (V::loadu(s) + da).store(s);
          if (t == 0) continue;
          const V rd = read ? load(read + b * out.sb + k, m) : V(T(0));
          at::vec::fmadd(da, V::loadu(u_p.get() + k), rd).store(dh_k);  // read + da u
        }
      }
    }
    unpad(du.get(), W, 1, H, d_u.data_ptr<T>() + e * d_u.stride(0), 0, d_u.stride(1));
    unpad(dub.get(), W, D + 1, H, d_ub.data_ptr<T>() + e * d_ub.stride(0), d_ub.stride(1),
          d_ub.stride(2));
  }
}

void check_small(const char* op, std::initializer_list<std::pair<const Tensor*, int64_t>> args) {
  // every argument of the given dim with contiguous rows, of one dtype, on the CPU
  const Tensor& ref = *args.begin()->first;
  for (const auto& [t, dim] : args) {
    TORCH_CHECK(t->dim() == dim && (t->stride(-1) == 1 || t->size(-1) == 1) &&
                    t->scalar_type() == ref.scalar_type() && t->device().is_cpu(),
                op, ": arguments do not have the shapes the cells' loops give them");
  }
}

// dh_out (E, B, H) or (E, L, B, H) for states (E, L+1, B, H) (the LSTM's c, h), rows contiguous
bool read_out_ok(const Tensor& dh_out, const Tensor& states) {
  const int64_t d = dh_out.dim();
  return (d == 3 || (d == 4 && dh_out.size(1) == states.size(1) - 1)) &&
         dh_out.size(0) == states.size(0) && dh_out.size(-2) == states.size(2) &&
         dh_out.size(-1) == states.size(3) && dh_out.stride(-1) == 1 &&
         dh_out.scalar_type() == states.scalar_type();
}

// x (L, E, B, D); u_b = [U; b]^T (E, D+1, H); w_t = W^T (E, H, H); h (E, L+1, B, H), h_0 set.
void rnn_forward_small(Tensor x, Tensor u_b, Tensor w_t, Tensor h, c10::string_view f) {
  const Act act = activation(f);
  check_small("rnn_forward_small", {{&h, 4}, {&x, 4}, {&u_b, 3}, {&w_t, 3}});
  check_loop("rnn_forward_small", h.size(1) == x.size(0) + 1 && h.size(2) == x.size(2) &&
                                      u_b.size(1) == x.size(3) + 1 && w_t.size(1) == h.size(3));
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "rnn_forward_small", [&] {
    with_vectors<scalar_t>(h.size(3), [&](auto nv) {
      with_act(act, [&](auto a) {
        by_models(h.size(0), [&](auto part) {
          rnn_forward_small_impl<scalar_t, decltype(nv)::value, decltype(a)::value>(
              part(x, 1), part(u_b), part(w_t), part(h));
        });
      });
    });
  });
}

// The backward of rnn_forward_small: d_w = dW^T (E, H, H), d_ub = [dU; db]^T (E, D+1, H); w = W
// (E, H, H); dh_out as in rnn_backward.
void rnn_backward_small(Tensor h, Tensor x, Tensor w, Tensor dh_out, Tensor d_w, Tensor d_ub,
                        c10::string_view f) {
  const Act act = activation(f);
  check_small("rnn_backward_small", {{&h, 4}, {&x, 4}, {&w, 3}, {&d_w, 3}, {&d_ub, 3}});
  check_loop("rnn_backward_small", h.size(1) == x.size(0) + 1 && read_out_ok(dh_out, h) &&
                                       d_ub.size(1) == x.size(3) + 1);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "rnn_backward_small", [&] {
    with_vectors<scalar_t>(h.size(3), [&](auto nv) {
      by_models(h.size(0), [&](auto part) {
        rnn_backward_small_impl<scalar_t, decltype(nv)::value>(
            part(h), part(x, 1), part(w), part(dh_out), part(d_w), part(d_ub), act);
      });
    });
  });
}

// As lstm_forward_loop, and tc (E, L, B, H) = tanh(c_1..c_L) kept for the backward.
void lstm_forward_small(Tensor hx, Tensor wx, Tensor x, Tensor z, Tensor c, Tensor tc) {
  check_small("lstm_forward_small", {{&hx, 4}, {&wx, 3}, {&x, 4}, {&z, 4}, {&c, 4}, {&tc, 4}});
  const int64_t L = z.size(1), H = c.size(3);
  check_loop("lstm_forward_small", hx.size(1) == L + 1 && x.size(0) == L && c.size(1) == L + 1 &&
                                       z.size(3) == 4 * H && hx.size(3) == H + x.size(3) + 1 &&
                                       tc.size(1) == L && tc.size(3) == H);
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "lstm_forward_small", [&] {
    with_vectors<scalar_t>(H, [&](auto nv) {
      by_models(z.size(0), [&](auto part) {
        lstm_forward_small_impl<scalar_t, decltype(nv)::value>(part(hx), part(wx), part(x, 1),
                                                               part(z), part(c), part(tc));
      });
    });
  });
}

// The backward of lstm_forward_small: z's gate values overwritten with dLoss/da; d_wx
// (E, H+D+1, 4H) = [dW^T; dU^T; db] = hx_{0..L-1}^T da, summed in the loop; w = W (E, 4H, H).
void lstm_backward_small(Tensor z, Tensor c, Tensor tc, Tensor hx, Tensor w, Tensor dh_out,
                         Tensor d_wx) {
  check_small("lstm_backward_small", {{&z, 4}, {&c, 4}, {&tc, 4}, {&hx, 4}, {&w, 3}, {&d_wx, 3}});
  const int64_t L = z.size(1), H = c.size(3);
  check_loop("lstm_backward_small", c.size(1) == L + 1 && z.size(3) == 4 * H &&
                                        w.size(1) == 4 * H && read_out_ok(dh_out, c) &&
                                        hx.size(1) == L + 1 && d_wx.size(1) == hx.size(3) &&
                                        d_wx.size(2) == 4 * H && tc.size(1) == L);
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "lstm_backward_small", [&] {
    with_vectors<scalar_t>(H, [&](auto nv) {
      by_models(z.size(0), [&](auto part) {
        lstm_backward_small_impl<scalar_t, decltype(nv)::value>(
            part(z), part(c), part(tc), part(hx), part(w), part(dh_out), part(d_wx));
      });
    });
  });
}

// As gru_forward, x (L, E, B, D) read directly (no x1).
void gru_forward_small(Tensor x, at::TensorList u_b, at::TensorList w_t, Tensor b_hn, Tensor z,
                       Tensor h) {
  check_small("gru_forward_small", {{&h, 4}, {&x, 4}, {&b_hn, 3}, {&z, 5}});
  const int64_t L = x.size(0);
  check_loop("gru_forward_small", h.size(1) == L + 1 && z.size(0) == 4 && z.size(2) == L &&
                                      u_b.size() == 3 && w_t.size() == 3);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "gru_forward_small", [&] {
    with_vectors<scalar_t>(h.size(3), [&](auto nv) {
      by_models(h.size(0), [&](auto part) {
        const Tensor u[] = {part(u_b[0]), part(u_b[1]), part(u_b[2])};
        const Tensor w[] = {part(w_t[0]), part(w_t[1]), part(w_t[2])};
        gru_forward_small_impl<scalar_t, decltype(nv)::value>(part(x, 1), u, w, part(b_hn),
                                                              part(z, 1), part(h));
      });
    });
  });
}

// As gru_backward, x (L, E, B, D) read directly.
void gru_backward_small(Tensor z, Tensor h, Tensor x, Tensor w, Tensor dh_out,
                        at::TensorList d_w, at::TensorList d_ub) {
  check_small("gru_backward_small", {{&h, 4}, {&x, 4}, {&w, 3}, {&z, 5}});
  const int64_t L = x.size(0);
  check_loop("gru_backward_small", h.size(1) == L + 1 && z.size(0) == 4 && z.size(2) == L &&
                                       d_w.size() == 3 && d_ub.size() == 3 &&
                                       read_out_ok(dh_out, h));
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "gru_backward_small", [&] {
    with_vectors<scalar_t>(h.size(3), [&](auto nv) {
      by_models(h.size(0), [&](auto part) {
        const Tensor dw[] = {part(d_w[0]), part(d_w[1]), part(d_w[2])};
        const Tensor du[] = {part(d_ub[0]), part(d_ub[1]), part(d_ub[2])};
        gru_backward_small_impl<scalar_t, decltype(nv)::value>(part(z, 1), part(h), part(x, 1),
                                                               part(w), part(dh_out), dw, du);
      });
    });
  });
}

// IndRNN: x (L, E, B, D); u_b = [U; b]^T (E, D+1, H); u (E, H); h (E, L+1, B, H), h_0 set.
void indrnn_forward(Tensor x, Tensor u_b, Tensor u, Tensor h, c10::string_view f) {
  const Act act = activation(f);
  check_small("indrnn_forward", {{&h, 4}, {&x, 4}, {&u_b, 3}, {&u, 2}});
  check_loop("indrnn_forward", h.size(1) == x.size(0) + 1 && u.size(1) == h.size(3) &&
                                   u_b.size(1) == x.size(3) + 1 && u_b.size(2) == h.size(3));
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "indrnn_forward", [&] {
    by_models(h.size(0), [&](auto part) {
      indrnn_forward_impl<scalar_t>(part(x, 1), part(u_b), part(u), part(h), act);
    });
  });
}

// The backward of indrnn_forward: d_u (E, H) = sum over steps of da_t h_t, d_ub (E, D+1, H) =
// [dU; db]^T; dh_out as in rnn_backward.
void indrnn_backward(Tensor h, Tensor x, Tensor u, Tensor dh_out, Tensor d_u, Tensor d_ub,
                     c10::string_view f) {
  const Act act = activation(f);
  check_small("indrnn_backward", {{&h, 4}, {&x, 4}, {&u, 2}, {&d_u, 2}, {&d_ub, 3}});
  check_loop("indrnn_backward", h.size(1) == x.size(0) + 1 && read_out_ok(dh_out, h) &&
                                    d_ub.size(1) == x.size(3) + 1);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "indrnn_backward", [&] {
    by_models(h.size(0), [&](auto part) {
      indrnn_backward_impl<scalar_t>(part(h), part(x, 1), part(u), part(dh_out), part(d_u),
                                     part(d_ub), act);
    });
  });
}

// --- the gradient-through-time probe's backward (gradients.gradient_profile): per state k =
// L..0 the per-example norms of dLoss/dh_k into norms (E, L+1, B), its batch sum into sums
// (E, L+1, H), and the models rescaled when one leaves [1/limit, limit], log10 of the divisor
// accumulated in log_scale (E, L+1, float64, zero in): gradients.py's Python probe (`_probe`,
// `_renormalise`), with the statistics in one pass over dh (its sums in another order: the
// same numbers up to float rounding). --------------------------------------------------------

template <typename T>
T row_norm(const T* x, int64_t n) {  // sqrt(sum x^2), accumulated in T, as torch's norm
  using V = Vectorized<T>;
  V acc(T(0));
  for (int64_t k = 0; k < n; k += V::size()) {
    const V v = V::loadu(x + k, std::min<int64_t>(V::size(), n - k));
    acc = at::vec::fmadd(v, v, acc);
  }
  T buf[V::size()];
  acc.store(buf);
  T sum = 0;
  for (int64_t i = 0; i < V::size(); ++i) sum += buf[i];
  return std::sqrt(sum);
}

template <typename T>
T row_norm_tree(const T* x, int64_t n) {  // as row_norm, its lanes summed as a tree (no stores)
  using V = Vectorized<T>;
  V acc(T(0));
  for (int64_t k = 0; k < n; k += V::size()) {
    const V v = V::loadu(x + k, std::min<int64_t>(V::size(), n - k));
    acc = at::vec::fmadd(v, v, acc);
  }
  return std::sqrt(at::vec::vec_reduce_all<T>([](const V& a, const V& b) { return a + b; }, acc));
}

// One pass over dh (E, B, H) at state k: norms[:, k] (E, B) its row norms, sums[:, k] (E, H) its
// batch sum, peak (E,) the largest row norm per model, of dh's and (the LSTM) dc's rows.
template <typename T>
void probe_stats(const Tensor& dh, const Tensor& dc, const Tensor& norms, const Tensor& sums,
                 int64_t k, T* p_out) {
  using V = Vectorized<T>;
  const int64_t B = dh.size(1), H = dh.size(2);
  const Rows<T> rdh(dh);
  T* n_out = norms.data_ptr<T>() + k * norms.stride(1);
  T* s_out = sums.data_ptr<T>() + k * sums.stride(1);
  const int64_t n0 = norms.stride(0), n2 = norms.stride(2), s0 = sums.stride(0);
  at::parallel_for(0, dh.size(0), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t e = lo; e < hi; ++e) {
      T* s = s_out + e * s0;
      std::fill_n(s, H, T(0));
      T top = 0;
      const auto raise = [&top](T r) { top = (r > top || r != r) ? r : top; };  // NaN wins, as amax
      for (int64_t b = 0; b < B; ++b) {
        const T* x = rdh(e, b);
        for (int64_t j = 0; j < H; j += V::size()) {
          const int64_t n = std::min<int64_t>(V::size(), H - j);
          (V::loadu(s + j, n) + V::loadu(x + j, n)).store(s + j, n);
        }
        const T r = row_norm(x, H);
        n_out[e * n0 + b * n2] = r;
        raise(r);
      }
      if (dc.defined()) {
        const Rows<T> rdc(dc);
        for (int64_t b = 0; b < B; ++b) raise(row_norm(rdc(e, b), H));
      }
      p_out[e] = top;
    }
  });
}

// State k's log scale carried over from k + 1, and the models rescaled where one's peak (E,) left
// [1/limit, limit]: no ATen call unless one did.
void probe_rescale(int64_t k, const Tensor& dh, const Tensor& dc, const Tensor& norms,
                   const Tensor& sums, const Tensor& log_scale, double limit,
                   const std::vector<double>& peaks) {
  double* scales = log_scale.data_ptr<double>();
  const int64_t l0 = log_scale.stride(0), l1 = log_scale.stride(1);
  const int64_t from = std::min(k + 1, log_scale.size(1) - 1);
  bool in_range = true;  // false for NaN too
  for (int64_t e = 0; e < dh.size(0); ++e) {
    scales[e * l0 + k * l1] = scales[e * l0 + from * l1];
    in_range = in_range && 1 / limit <= peaks[e] && peaks[e] <= limit;
  }
  if (in_range) return;
  // a model left the range (or is 0 or non-finite): as gradients._renormalise
  Tensor peak = at::tensor(peaks, at::kDouble).to(dh.scalar_type());
  const Tensor ok = at::isfinite(peak) & (peak > 0);
  if (!(ok & ((peak > limit) | (peak < 1 / limit))).any().item<bool>()) return;
  peak = at::where(ok, peak, at::ones_like(peak));
  dh.div_(peak.view({-1, 1, 1}));
  if (dc.defined()) dc.div_(peak.view({-1, 1, 1}));
  norms.select(1, k).div_(peak.view({-1, 1}));
  sums.select(1, k).div_(peak.view({-1, 1}));
  Tensor scale = log_scale.select(1, k);
  scale.add_(at::log10(peak.to(at::kDouble)));
}

// The statistics of state k (probe_stats), then probe_rescale.
void probe_step(int64_t k, const Tensor& dh, const Tensor& dc, const Tensor& norms,
                const Tensor& sums, const Tensor& log_scale, double limit) {
  std::vector<double> peaks(dh.size(0));
  AT_DISPATCH_FLOATING_TYPES(dh.scalar_type(), "probe_stats", [&] {
    std::vector<scalar_t> top(dh.size(0));
    probe_stats<scalar_t>(dh, dc, norms, sums, k, top.data());
    std::copy(top.begin(), top.end(), peaks.begin());
  });
  probe_rescale(k, dh, dc, norms, sums, log_scale, limit, peaks);
}

void check_probe(const char* op, const Tensor& dh, const Tensor& norms, const Tensor& sums,
                 const Tensor& log_scale, int64_t L) {
  check_loop(op, dh.dim() == 3 && dh.stride(2) == 1 && norms.dim() == 3 &&
                     norms.size(1) == L + 1 && sums.dim() == 3 && sums.size(1) == L + 1 &&
                     sums.stride(2) == 1 && log_scale.dim() == 2 &&
                     log_scale.size(1) == L + 1 && log_scale.scalar_type() == at::kDouble);
}

// h (E, L+1, B, H) from rnn_forward; w = W (E, H, H); dh (E, B, H) dLoss/dh_L; da scratch.
void rnn_probe(Tensor h, Tensor w, Tensor dh, Tensor dh0, Tensor dh1, Tensor da, Tensor norms,
               Tensor sums, Tensor log_scale, double limit, c10::string_view f) {
  const Act act = activation(f);
  const int64_t L = h.size(1) - 1;
  check_probe("rnn_probe", dh, norms, sums, log_scale, L);
  for (int64_t t = L - 1; t >= 0; --t) {
    probe_step(t + 1, dh, Tensor(), norms, sums, log_scale, limit);
    apply_grad(act, dh, h.select(1, t + 1), da);
    dh = at::bmm_out(t % 2 ? dh1 : dh0, da, w);
  }
  probe_step(0, dh, Tensor(), norms, sums, log_scale, limit);
}

// z, c from lstm_forward_loop (z overwritten); dc (E, B, H) zero in; the rest as rnn_probe.
void lstm_probe(Tensor z, Tensor c, Tensor w, Tensor dh, Tensor dc, Tensor dh0, Tensor dh1,
                Tensor norms, Tensor sums, Tensor log_scale, double limit) {
  const int64_t L = z.size(1);
  check_probe("lstm_probe", dh, norms, sums, log_scale, L);
  for (int64_t t = L - 1; t >= 0; --t) {
    probe_step(t + 1, dh, dc, norms, sums, log_scale, limit);
    const Tensor z_t = z.select(1, t);
    lstm_backward(dh, dc, z_t, c.select(1, t + 1), c.select(1, t));
    dh = at::bmm_out(t % 2 ? dh1 : dh0, z_t, w);
  }
  probe_step(0, dh, dc, norms, sums, log_scale, limit);
}

// z, h from gru_forward (z overwritten); direct, tmp as in gru_backward; the rest as rnn_probe.
void gru_probe(Tensor z, Tensor h, Tensor w, Tensor dh, Tensor direct, Tensor tmp, Tensor dh0,
               Tensor dh1, Tensor norms, Tensor sums, Tensor log_scale, double limit) {
  const int64_t L = z.size(2), H = h.size(-1);
  check_probe("gru_probe", dh, norms, sums, log_scale, L);
  const Tensor blocks[] = {w.narrow(1, 0, H), w.narrow(1, H, H), w.narrow(1, 2 * H, H)};
  for (int64_t t = L - 1; t >= 0; --t) {
    probe_step(t + 1, dh, Tensor(), norms, sums, log_scale, limit);
    const Tensor z_t = z.select(2, t);
    gru_gates_back(z_t, h.select(1, t), dh, direct, tmp);
    dh = gru_dh(t, z_t, blocks, Tensor(), direct, dh0, dh1);
  }
  probe_step(0, dh, Tensor(), norms, sums, log_scale, limit);
}

// One model's rows at state k: dLoss/dh_k = dLoss/dh_{k+1} f'(a_{k+1}) u over dh's rows, their
// norms (into norm, B apart by n2) and batch sum (into sum), in one pass; the next rows of h to
// be read prefetched. NV vectors hold a row (the batch sum in registers), or 0: any H.
template <typename T, int NV>
void indrnn_probe_model(T* dh, int64_t ldh, const T* h, int64_t lh, const T* next, const T* u,
                        T* norm, int64_t n2, T* sum, int64_t B, int64_t H, Act act) {
  using V = Vectorized<T>;
  constexpr int64_t VS = V::size();
  if constexpr (NV > 0) {
    V s[NV], uv[NV];
    UNROLL
    for (int j = 0; j < NV; ++j) {
      s[j] = V(T(0));
      uv[j] = load(u + j * VS, lanes<T>(H, j));
    }
    for (int64_t b = 0; b < B; ++b) {
      T* d = dh + b * ldh;
      const T* h_v = h + b * lh;
      if (next) prefetch<T, 0>(next + b * lh, H);
      V sq(T(0));
      UNROLL
      for (int j = 0; j < NV; ++j) {
        const int64_t m = lanes<T>(H, j);
        const V d_k = act_grad_vec(act, load(d + j * VS, m), load(h_v + j * VS, m)) * uv[j];
        store(d_k, d + j * VS, m);
        s[j] = s[j] + d_k;
        sq = at::vec::fmadd(d_k, d_k, sq);
      }
      norm[b * n2] = std::sqrt(
          at::vec::vec_reduce_all<T>([](const V& x, const V& y) { return x + y; }, sq));
    }
    UNROLL
    for (int j = 0; j < NV; ++j) store(s[j], sum + j * VS, lanes<T>(H, j));
  } else {
    std::fill_n(sum, H, T(0));
    for (int64_t b = 0; b < B; ++b) {
      T* d = dh + b * ldh;
      const T* h_v = h + b * lh;
      if (next) prefetch<T, 0>(next + b * lh, H);
      for (int64_t j = 0; j < H; j += VS) {
        const int64_t m = std::min<int64_t>(VS, H - j);
        const V d_k = act_grad_vec(act, load(d + j, m), load(h_v + j, m)) * load(u + j, m);
        store(d_k, d + j, m);
        store(load(sum + j, m) + d_k, sum + j, m);
      }
      norm[b * n2] = row_norm_tree(d, H);
    }
  }
}

// Every state k = L-1..0 at once for all models (indrnn_probe_model), then probe_rescale: the
// pass walks back through every model's states, each model's far from the others' in memory.
template <typename T, int NV>
void indrnn_probe_impl(const Tensor& h, const Tensor& u, const Tensor& dh, const Tensor& norms,
                       const Tensor& sums, const Tensor& log_scale, double limit, Act act) {
  const int64_t E = dh.size(0), B = dh.size(1), H = dh.size(2), L = h.size(1) - 1;
  const Rows4<T> rh(h);
  T* dh_data = dh.data_ptr<T>();
  const T* u_data = u.data_ptr<T>();
  T* n_data = norms.data_ptr<T>();
  T* s_data = sums.data_ptr<T>();
  const int64_t u0 = u.stride(0), n0 = norms.stride(0), n1 = norms.stride(1),
                n2 = norms.stride(2), s0 = sums.stride(0), s1 = sums.stride(1);
  std::vector<double> peaks(E);
  std::vector<T> top(E);
  probe_stats<T>(dh, Tensor(), norms, sums, L, top.data());
  std::copy(top.begin(), top.end(), peaks.begin());
  probe_rescale(L, dh, Tensor(), norms, sums, log_scale, limit, peaks);
  const unsigned flush = CallersFlush::mode();
  for (int64_t k = L - 1; k >= 0; --k) {
    at::parallel_for(0, E, 1, [&](int64_t lo, int64_t hi) {
      const CallersFlush callers_flush(flush);  // a model's numbers whatever thread computes them
      for (int64_t e = lo; e < hi; ++e) {
        const T* next = e + 1 < hi ? rh(e + 1, k + 1, 0) : k > 0 ? rh(lo, k, 0) : nullptr;
        T* norm = n_data + e * n0 + k * n1;
        indrnn_probe_model<T, NV>(dh_data + e * dh.stride(0), dh.stride(1), rh(e, k + 1, 0),
                                  rh.s2, next, u_data + e * u0, norm, n2,
                                  s_data + e * s0 + k * s1, B, H, act);
        T peak = 0;
        for (int64_t b = 0; b < B; ++b) {
          const T r = norm[b * n2];
          peak = (r > peak || r != r) ? r : peak;  // NaN wins, as amax
        }
        peaks[e] = peak;
      }
    });
    probe_rescale(k, dh, Tensor(), norms, sums, log_scale, limit, peaks);
  }
}

// h (E, L+1, B, H) from indrnn_forward; u (E, H); dh (E, B, H) dLoss/dh_L, overwritten; norms,
// sums, log_scale as rnn_probe.
void indrnn_probe(Tensor h, Tensor u, Tensor dh, Tensor norms, Tensor sums, Tensor log_scale,
                  double limit, c10::string_view f) {
  const Act act = activation(f);
  const int64_t L = h.size(1) - 1;
  check_probe("indrnn_probe", dh, norms, sums, log_scale, L);
  check_small("indrnn_probe", {{&dh, 3}, {&h, 4}, {&u, 2}});
  check_loop("indrnn_probe", h.size(0) == dh.size(0) && h.size(2) == dh.size(1) &&
                                 h.size(3) == dh.size(2) && u.size(1) == dh.size(2));
  AT_DISPATCH_FLOATING_TYPES(dh.scalar_type(), "indrnn_probe", [&] {
    if (dh.size(2) > kSmall) {
      indrnn_probe_impl<scalar_t, 0>(h, u, dh, norms, sums, log_scale, limit, act);
    } else {
      with_vectors<scalar_t>(dh.size(2), [&](auto nv) {
        indrnn_probe_impl<scalar_t, decltype(nv)::value>(h, u, dh, norms, sums, log_scale, limit,
                                                         act);
      });
    }
  });
}

}  // namespace

#define RNNBENCH_LIBRARY(ns, m) TORCH_LIBRARY(ns, m)  // expands RNNBENCH_OPS first
#define RNNBENCH_LIBRARY_IMPL(ns, m) TORCH_LIBRARY_IMPL(ns, CPU, m)

RNNBENCH_LIBRARY(RNNBENCH_OPS, m) {
  m.def("lstm_forward(Tensor a, Tensor(a!) z, Tensor c_prev, Tensor(b!) c, Tensor(c!) h, "
        "Tensor x, Tensor(d!) x_out) -> ()");
  m.def("lstm_backward(Tensor dh, Tensor(a!) dc, Tensor(b!) z, Tensor c, Tensor c_prev) -> ()");
  m.def("tanh(Tensor a, Tensor(a!) out) -> ()");
  m.def("rnn_forward(Tensor x1, Tensor u_b, Tensor w_t, Tensor(a!) h, Tensor(b!) a, str f) -> ()");
  m.def("rnn_backward(Tensor h, Tensor x1, Tensor w, Tensor dh_out, Tensor(a!) dh0, "
        "Tensor(b!) dh1, Tensor(c!) da, Tensor(d!) d_w, Tensor(e!) d_ub, str f) -> ()");
  m.def("lstm_forward_loop(Tensor(a!) hx, Tensor wx, Tensor x, Tensor(b!) z, Tensor(c!) c, "
        "Tensor(d!) a) -> ()");
  m.def("lstm_backward_loop(Tensor(a!) z, Tensor c, Tensor w, Tensor dh_out, Tensor(b!) dc, "
        "Tensor(c!) dh0, Tensor(d!) dh1) -> ()");
  m.def("rnn_probe(Tensor h, Tensor w, Tensor(a!) dh, Tensor(b!) dh0, Tensor(c!) dh1, "
        "Tensor(d!) da, Tensor(e!) norms, Tensor(f!) sums, Tensor(g!) log_scale, float limit, "
        "str f) -> ()");
  m.def("lstm_probe(Tensor(a!) z, Tensor c, Tensor w, Tensor(b!) dh, Tensor(c!) dc, "
        "Tensor(d!) dh0, Tensor(e!) dh1, Tensor(f!) norms, Tensor(g!) sums, "
        "Tensor(h!) log_scale, float limit) -> ()");
  m.def("gru_forward(Tensor x1, Tensor[] u_b, Tensor[] w_t, Tensor b_hn, Tensor(a!) z, "
        "Tensor(b!) h, Tensor(c!) a) -> ()");
  m.def("gru_backward(Tensor(a!) z, Tensor h, Tensor x1, Tensor w, Tensor dh_out, "
        "Tensor(b!) direct, Tensor(c!) tmp, Tensor(d!) dh0, Tensor(e!) dh1, Tensor(f!)[] d_w, "
        "Tensor(g!)[] d_ub, int chunk) -> ()");
  m.def("rnn_forward_small(Tensor x, Tensor u_b, Tensor w_t, Tensor(a!) h, str f) -> ()");
  m.def("rnn_backward_small(Tensor h, Tensor x, Tensor w, Tensor dh_out, Tensor(a!) d_w, "
        "Tensor(b!) d_ub, str f) -> ()");
  m.def("lstm_forward_small(Tensor(a!) hx, Tensor wx, Tensor x, Tensor(b!) z, Tensor(c!) c, "
        "Tensor(d!) tc) -> ()");
  m.def("lstm_backward_small(Tensor(a!) z, Tensor c, Tensor tc, Tensor hx, Tensor w, "
        "Tensor dh_out, Tensor(b!) d_wx) -> ()");
  m.def("gru_forward_small(Tensor x, Tensor[] u_b, Tensor[] w_t, Tensor b_hn, Tensor(a!) z, "
        "Tensor(b!) h) -> ()");
  m.def("gru_backward_small(Tensor(a!) z, Tensor h, Tensor x, Tensor w, Tensor dh_out, "
        "Tensor(b!)[] d_w, Tensor(c!)[] d_ub) -> ()");
  m.def("indrnn_forward(Tensor x, Tensor u_b, Tensor u, Tensor(a!) h, str f) -> ()");
  m.def("indrnn_backward(Tensor h, Tensor x, Tensor u, Tensor dh_out, Tensor(a!) d_u, "
        "Tensor(b!) d_ub, str f) -> ()");
  m.def("indrnn_probe(Tensor h, Tensor u, Tensor(a!) dh, Tensor(b!) norms, Tensor(c!) sums, "
        "Tensor(d!) log_scale, float limit, str f) -> ()");
  m.def("gru_probe(Tensor(a!) z, Tensor h, Tensor w, Tensor(b!) dh, Tensor(c!) direct, "
        "Tensor(d!) tmp, Tensor(e!) dh0, Tensor(f!) dh1, Tensor(g!) norms, Tensor(h!) sums, "
        "Tensor(i!) log_scale, float limit) -> ()");
}

RNNBENCH_LIBRARY_IMPL(RNNBENCH_OPS, m) {
  m.impl("lstm_forward", lstm_forward);
  m.impl("lstm_backward", lstm_backward);
  m.impl("tanh", tanh_into);
  m.impl("rnn_forward", rnn_forward);
  m.impl("rnn_backward", rnn_backward);
  m.impl("lstm_forward_loop", lstm_forward_loop);
  m.impl("lstm_backward_loop", lstm_backward_loop);
  m.impl("rnn_probe", rnn_probe);
  m.impl("lstm_probe", lstm_probe);
  m.impl("gru_forward", gru_forward);
  m.impl("gru_backward", gru_backward);
  m.impl("gru_probe", gru_probe);
  m.impl("rnn_forward_small", rnn_forward_small);
  m.impl("rnn_backward_small", rnn_backward_small);
  m.impl("lstm_forward_small", lstm_forward_small);
  m.impl("lstm_backward_small", lstm_backward_small);
  m.impl("gru_forward_small", gru_forward_small);
  m.impl("gru_backward_small", gru_backward_small);
  m.impl("indrnn_forward", indrnn_forward);
  m.impl("indrnn_backward", indrnn_backward);
  m.impl("indrnn_probe", indrnn_probe);
}
