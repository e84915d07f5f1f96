"""The seed example, both ways: eager (each line runs now) and deferred (traced, compiled).

python examples/pythagoras.py
"""

import numpy as np

import kiln


def hypotenuse(a, b):
    return (a**2 + b**2) ** 0.5


def main():
    a = kiln.tensor([3.0, 5.0, 8.0])
    b = kiln.tensor([4.0, 12.0, 15.0])

    print("eager:    ", hypotenuse(a, b))

    compiled = kiln.jit(hypotenuse)
    print("compiled: ", compiled(a, b))

    info = compiled.inspect(a, b)
    print("\nthe traced graph:")
    print(info.traced)
    print("\nafter the passes (x**2 -> x*x, x**0.5 -> sqrt):")
    print(info.optimized)
    print(f"\n{len(info.kernels)} generated kernel(s):")
    for source in info.kernels:
        print(source)

    # define once, run many times with other inputs
    big_a = kiln.from_numpy(np.random.rand(1 << 20).astype(np.float32))
    big_b = kiln.from_numpy(np.random.rand(1 << 20).astype(np.float32))
    np.testing.assert_allclose(
        compiled(big_a, big_b).numpy(), hypotenuse(big_a, big_b).numpy(), rtol=1e-6
    )
    print("compiled and eager agree on 2**20 elements")


if __name__ == "__main__":
    main()
