"""The generic exercise checks: right answers pass silently, each common mistake gets its hint."""

import subprocess
import sys

import numpy as np
import pytest

from aigc_course.checks import (
    CheckFailed,
    NotAttempted,
    check,
    check_callable,
    check_close,
    check_dtype,
    check_finite,
    check_shape,
    check_true,
    ok,
    run_check,
)


def _stub(*_args):
    raise NotImplementedError("use np.maximum")


def test_right_answers_pass_silently(capsys):
    check_close("x", np.float32(0.1) * 3, 0.3, atol=1e-6)
    check_close("x", [[1.0, 2.0]], np.array([[1.0, 2.0 + 1e-9]]))
    check_shape("img", np.zeros((4, 28, 28, 1)), (None, 28, 28, 1))
    check_dtype("img", np.zeros(3, np.float32), "float32")
    check_dtype("img", np.zeros(3, np.float32), np.float32)
    check_callable("f", len)
    check_true(1 + 1 == 2, "arithmetic")
    check_finite("loss", np.array([0.0, 1e30]))
    assert capsys.readouterr().out == ""


def test_ok_prints_one_plain_line(capsys):
    ok("relu is correct")
    assert capsys.readouterr().out == "✔ relu is correct\n"


def test_none_means_a_missing_return():
    for helper in (check_close, check_shape):
        with pytest.raises(CheckFailed, match=r"y returned None — did you forget `return`\?"):
            helper("y", None, (1,))
    with pytest.raises(CheckFailed, match="forget `return`"):
        check_dtype("y", None, "float32")
    with pytest.raises(CheckFailed, match="forget `return`"):
        check_finite("y", None)


def test_flipped_sign_is_named():
    with pytest.raises(CheckFailed, match="sign looks flipped") as err:
        check_close("loss", -0.693, 0.693, atol=1e-3)
    assert err.value.message == "loss: expected 0.693, got -0.693"
    with pytest.raises(CheckFailed, match="sign looks flipped"):
        check_close("grad", -np.arange(1.0, 4.0), np.arange(1.0, 4.0))


def test_plain_wrong_value_says_where_and_how_much():
    with pytest.raises(CheckFailed) as err:
        check_close("v", [1.0, 2.0, 5.0], [1.0, 2.0, 3.0])
    assert str(err.value) == "v: 1 of 3 values differ; first at index (2,): expected 3, got 5"
    assert err.value.hint is None


def test_missing_channel_axis_is_named():
    with pytest.raises(CheckFailed, match=r"expected shape \(28, 28, 1\), got \(28, 28\)") as err:
        check_shape("image", np.zeros((28, 28)), (28, 28, 1))
    assert "channel axis is missing" in err.value.hint
    with pytest.raises(CheckFailed, match="channel axis is missing"):
        check_close("batch", np.zeros((2, 28, 28)), np.zeros((2, 28, 28, 1)))


def test_other_shape_mistakes_have_hints():
    with pytest.raises(CheckFailed, match="extra axis of size 1"):
        check_shape("x", np.zeros((28, 28, 1)), (28, 28))
    with pytest.raises(CheckFailed, match="batch axis is missing"):
        check_shape("x", np.zeros((28, 28, 1)), (16, 28, 28, 1))
    with pytest.raises(CheckFailed, match="wrong order"):
        check_shape("x", np.zeros((1, 28, 28)), (28, 28, 1))
    with pytest.raises(CheckFailed, match="single number"):
        check_close("mean", np.ones(3), 1.0)


def test_dtype_hints():
    with pytest.raises(CheckFailed, match="expected dtype float32, got uint8") as err:
        check_dtype("pixels", np.zeros(2, np.uint8), "float32")
    assert "astype(np.float32)" in err.value.hint
    with pytest.raises(CheckFailed, match="float64 by default"):
        check_dtype("x", np.zeros(2), np.dtype("float32"))


def test_not_finite_and_not_numbers():
    with pytest.raises(CheckFailed, match="1 NaN and 1 inf of 3 values") as err:
        check_finite("loss", [np.nan, np.inf, 0.0])
    assert "log(0)" in err.value.hint
    with pytest.raises(CheckFailed, match="could not read the result as numbers"):
        check_close("x", [[1.0], [1.0, 2.0]], [1.0, 2.0])


def test_callable_and_true():
    with pytest.raises(CheckFailed, match="expected a function, got float") as err:
        check_callable("relu", 0.5)
    assert "f, not f()" in err.value.hint
    with pytest.raises(CheckFailed, match="relu is None"):
        check_callable("relu", None)
    with pytest.raises(CheckFailed, match="D must be in") as err:
        check_true(False, "D must be in [0, 1]", hint="apply a sigmoid")
    assert str(err.value) == "D must be in [0, 1]\nhint: apply a sigmoid"


def test_decorated_check_reports_a_stub_as_not_attempted():
    @check
    def check_relu(relu):
        check_close("relu(-1)", relu(-1.0), 0.0)

    with pytest.raises(NotAttempted) as err:
        check_relu(_stub)
    assert str(err.value) == (
        "check_relu: not attempted yet: replace the `raise NotImplementedError` line with your "
        "code\nhint: use np.maximum"
    )
    assert isinstance(err.value, NotImplementedError) and isinstance(err.value, CheckFailed)
    check_relu(lambda x: max(x, 0.0))  # a right answer passes through the decorator


def test_run_check_does_the_same_and_returns_the_value():
    with pytest.raises(NotAttempted, match="^_stub: not attempted"):
        run_check(_stub, 1)
    assert run_check(lambda a, b=0: a + b, 1, b=2) == 3


def test_failures_render_without_a_traceback_in_jupyter():
    err = CheckFailed("x: expected 1, got 2", "the sign looks flipped")
    assert err._render_traceback_() == ["✘ x: expected 1, got 2", "  hint: the sign looks flipped"]


def test_importing_the_checks_does_not_import_tensorflow():
    code = "import sys, aigc_course.checks; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_tensors_are_read_like_arrays():
    from aigc_course._tf import tf

    check_close("t", tf.constant([1.0, 2.0]), [1.0, 2.0])
    check_shape("t", tf.zeros((2, 28, 28, 1)), (None, 28, 28, 1))
    check_dtype("t", tf.zeros(2), tf.float32)
    with pytest.raises(CheckFailed, match="channel axis is missing"):
        check_shape("t", tf.zeros((28, 28)), (28, 28, 1))


def test_check_letter_normalises_and_explains():
    from aigc_course.checks import check_letter

    assert check_letter("q", " B ") == "b"
    with pytest.raises(CheckFailed, match="one letter a, b, c or d, got 'e'"):
        check_letter("q", "e")
    with pytest.raises(CheckFailed, match="one letter x or y"):
        check_letter("q", 3, letters="xy")
    with pytest.raises(NotAttempted, match="write a letter"):
        check_letter("q", None, not_attempted="write a letter")
    with pytest.raises(CheckFailed) as info:  # without the hint an empty answer is just wrong
        check_letter("q", None)
    assert not isinstance(info.value, NotAttempted)


# --- check_own_code: the student's code, not the library's answer under another name ---------

_STUDENT_MODULE = '''
import numpy as np
from aigc_course import bench
from aigc_course.bench import precision_recall as pr

def knn_radii(x, k):  # the student's own helper, named like the bench's
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    return np.sort(d, axis=1)[:, k]

def uses_own_helper(real, fake, k=3):
    return knn_radii(real, k)

def uses_library_by_attribute(real, fake, k=3):
    return bench.knn_radii(real, k)

def uses_library_alias(real, fake, k=3):
    return pr(real, fake, k)

def imports_inside(real, fake, k=3):
    from aigc_course.bench import knn_radii
    return knn_radii(real, k)

def wrapper(real, k):
    return bench.knn_radii(real, k)

knn_radii_wrapped = wrapper

def uses_helper_that_calls_library(real, fake, k=3):
    return helper(real, k)

def helper(real, k):
    return bench.knn_radii(real, k)
'''


@pytest.fixture
def student(tmp_path, monkeypatch):
    import importlib

    (tmp_path / "student_answers.py").write_text(_STUDENT_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module("student_answers")


def test_own_code_reads_a_student_helper_named_like_the_library(student):
    from aigc_course import bench
    from aigc_course.checks import check_own_code

    forbidden = ["precision_recall", "knn_radii"]
    check_own_code("f", student.uses_own_helper, forbidden, "why")  # their own knn_radii
    cases = {
        "uses_library_by_attribute": "calls knn_radii, the library's version",
        "uses_library_alias": r"calls pr \(aigc_course.bench.precision_recall\)",
        "imports_inside": "calls knn_radii, the library's version",
    }
    for name, message in cases.items():
        with pytest.raises(CheckFailed, match=message):
            check_own_code("f", getattr(student, name), forbidden, "why")
    with pytest.raises(CheckFailed, match="is aigc_course.bench.knn_radii, a library function"):
        check_own_code("f", bench.knn_radii, forbidden, "why")
    student.knn_radii = student.knn_radii_wrapped  # their knn_radii now calls the bench's
    with pytest.raises(CheckFailed, match="knn_radii calls knn_radii, the library's version"):
        check_own_code("f", student.uses_own_helper, forbidden, "why")
    # A helper with another name is not followed: only forbidden names are (as before).
    check_own_code("f", student.uses_helper_that_calls_library, forbidden, "why")
