"""Bad input gets a clear error naming the operation and the shapes or dtypes."""

import pytest

import kiln

CASES = [
    # (call, exception type, fragments the message must contain)
    (lambda: kiln.ones(2, 3) + kiln.ones(4), RuntimeError, ["add", "[2, 3]", "[4]"]),
    (lambda: kiln.ones(2, 3) * kiln.ones(3, 2), RuntimeError, ["mul", "[2, 3]", "[3, 2]"]),
    (
        lambda: kiln.ones(2, 3) @ kiln.ones(4, 5),
        RuntimeError,
        ["matmul", "[2, 3]", "[4, 5]", "3 != 4"],
    ),
    (lambda: kiln.ones(3) @ kiln.ones(4), RuntimeError, ["matmul"]),
    (lambda: kiln.ones(6).reshape(4, 2), RuntimeError, ["[4, 2]", "6"]),
    (lambda: kiln.ones(2, 3).sum(2), IndexError, ["Dimension out of range"]),
    (lambda: kiln.cat([kiln.ones(2, 3), kiln.ones(3, 2)], 0), RuntimeError, ["cat"]),
    (lambda: kiln.ones(2, 2)[kiln.tensor([0, 5])], IndexError, ["out of range"]),
    (lambda: kiln.ones(3)[3], IndexError, ["index 3 is out of bounds"]),
    (lambda: kiln.ones(2, 3).expand(4, 4), RuntimeError, ["expand", "[2, 3]"]),
    (lambda: kiln.stack([kiln.ones(2), kiln.ones(3)]), RuntimeError, ["stack", "[2]", "[3]"]),
    (lambda: kiln.ones(2).item(), RuntimeError, ["2 elements"]),
    (lambda: bool(kiln.ones(2)), RuntimeError, ["ambiguous"]),
    (lambda: kiln.arange(3).mean(), RuntimeError, ["mean", "int64"]),
    (lambda: kiln.ones(2, 3).permute(0, 0), RuntimeError, ["permute"]),
    (lambda: kiln.tensor([1, 2]) ** -1, RuntimeError, ["negative"]),
    (lambda: kiln.ones(2, requires_grad=True).numpy(), RuntimeError, ["detach"]),
]


@pytest.mark.parametrize("call, exc, fragments", CASES, ids=range(len(CASES)))
def test_error_messages(call, exc, fragments):
    with pytest.raises(exc) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {info.value}"


def test_error_is_raised_at_the_failing_line_eagerly():
    import traceback

    try:
        kiln.ones(2) + kiln.ones(3)
    except RuntimeError as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        assert frames[0].name == "test_error_is_raised_at_the_failing_line_eagerly"
    else:
        pytest.fail("no error")
