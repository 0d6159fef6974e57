"""The newcomer's first run: trace a NumPy function, print its IR, differentiate and compile it."""
import numpy as np

import pullback as pb


def loss(w, x):
    return np.sum(np.tanh(x @ w) ** 2)


w = np.linspace(-1.0, 1.0, 6).reshape(3, 2)
x = np.arange(12.0).reshape(4, 3) / 10

print("IR of loss:")
print(pb.make_ir(loss)(w, x))

print("\nThe derivative of sin, raw and optimized:")
print(pb.make_ir(pb.grad(np.sin))(1.0))
print(pb.make_ir(pb.grad(np.sin), optimize=True)(1.0))

grad_loss = pb.jit(pb.grad(loss))
print("\ngrad of loss w.r.t. w (compiled with Numba):")
print(grad_loss(w, x))
pb.check_grads(loss, (w, x), order=2)
print("check_grads: first and second derivatives agree with finite differences")
