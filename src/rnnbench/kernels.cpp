// Fused LSTM cell, forward and backward: one pass over one step's (E, B, 4H) gates per call;
// and the time loops of every cell's training pass (bptt.py) and probe, one call each.
// Built and loaded by rnnbench/kernels.py, which also holds the eager equivalents, once per
// instruction set: CPU_CAPABILITY (AVX2, AVX512) sets ATen's vector width, RNNBENCH_OPS the
// operator namespace (rnnbench_avx2, rnnbench_avx512: both builds may load in one process).
#include <algorithm>
#include <cmath>
#include <string_view>

#include <ATen/ATen.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/Parallel.h>
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
    if (b + 8 < dh.size(1)) {  // the gates and c were written long before (1.02x the step)
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
// cell's tanh, in float64 Sleef's (1 ulp). torch's (MKL's) tanh ran 5x slower than the float32
// one on an AMD EPYC (Zen 4): 40% of the RNN's forward loop at H = 128.
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

// --- time loops: the same ATen calls, in the same order, as bptt.py's Python loops (so the
// vanilla RNN's numbers are those of the Python loop to the bit), without a Python round trip
// per step (~10% of a training step at H = 64) ---------------------------------------------

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
  TORCH_CHECK(ok, op, ": arguments do not have the shapes bptt.py gives them");
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
// parallel region: each of its calls there tried to start threads, 15-20% of the RNN's time
// loop at H = 64. One thread for MKL on this thread while in scope (a no-op without MKL).
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
    const at::NoGradGuard no_grad;  // as the caller (bptt): grad mode is per thread
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

// GRU (bptt._gru_forward): x1 (E, L, B, D+1); per gate r, z, n u_b [U_g; b_g]^T (E, D+1, H)
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

// One pass over dh (E, B, H): norm (E, B) its row norms, sum (E, H) its batch sum, peak (E,)
// the largest row norm per model, of dh's and (the LSTM) dc's rows.
template <typename T>
void probe_stats(const Tensor& dh, const Tensor& dc, const Tensor& norm, const Tensor& sum,
                 const Tensor& peak) {
  using V = Vectorized<T>;
  const int64_t B = dh.size(1), H = dh.size(2);
  const Rows<T> rdh(dh);
  T* n_out = norm.data_ptr<T>(); T* s_out = sum.data_ptr<T>(); T* p_out = peak.data_ptr<T>();
  at::parallel_for(0, dh.size(0), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t e = lo; e < hi; ++e) {
      T* s = s_out + e * sum.stride(0);
      std::fill_n(s, H, T(0));
      T top = 0;
      const auto raise = [&top](T r) { top = (r > top || r != r) ? r : top; };  // NaN wins, as amax
      for (int64_t b = 0; b < B; ++b) {
        const T* x = rdh(e, b);
        for (int64_t k = 0; k < H; k += V::size()) {
          const int64_t n = std::min<int64_t>(V::size(), H - k);
          (V::loadu(s + k, n) + V::loadu(x + k, n)).store(s + k, n);
        }
        const T r = row_norm(x, H);
        n_out[e * norm.stride(0) + b * norm.stride(1)] = r;
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

void probe_step(int64_t k, const Tensor& dh, const Tensor& dc, const Tensor& norms,
                const Tensor& sums, const Tensor& log_scale, double limit) {
  Tensor norm = norms.select(1, k), scale = log_scale.select(1, k);
  Tensor peak = at::empty({dh.size(0)}, dh.options());
  AT_DISPATCH_FLOATING_TYPES(dh.scalar_type(), "probe_stats", [&] {
    probe_stats<scalar_t>(dh, dc, norm, sums.select(1, k), peak);
  });
  scale.copy_(log_scale.select(1, std::min(k + 1, log_scale.size(1) - 1)));
  const auto [low, high] = at::aminmax(peak);
  if (1 / limit <= low.item<double>() && high.item<double>() <= limit) return;
  // a model left the range (or is 0 or non-finite): as gradients._renormalise
  const Tensor ok = at::isfinite(peak) & (peak > 0);
  if (!(ok & ((peak > limit) | (peak < 1 / limit))).any().item<bool>()) return;
  peak = at::where(ok, peak, at::ones_like(peak));
  dh.div_(peak.view({-1, 1, 1}));
  if (dc.defined()) dc.div_(peak.view({-1, 1, 1}));
  norm.div_(peak.view({-1, 1}));
  sums.select(1, k).div_(peak.view({-1, 1}));
  scale.add_(at::log10(peak.to(at::kDouble)));
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
}
