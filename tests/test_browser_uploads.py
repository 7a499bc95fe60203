"""Uploads against the real server (``streamlit run app.py``) from real Chromium: Streamlit's
upload endpoint cannot be used to park memory, and a zip bomb imported on the Class data page
is refused on the page with the server's peak memory barely moved."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from app_server import serve_app
from browser_helpers import open_page, wait_idle
from zip_bombs import MIB, bomb, zip_of

from cnn_core.data.class_files import IDX_IMAGES, IDX_LABELS, MAX_IMPORT_BYTES
from cnn_core.storage.uploads import MAX_UPLOAD_BYTES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Send files the way Streamlit's frontend does: PUT multipart to the URL it was given, with the
# XSRF cookie's value as the X-Xsrftoken header.
PARK = """async ([sessionId, count, size]) => {
  const xsrf = (document.cookie.match(/_streamlit_xsrf=([^;]+)/) || [])[1] || "";
  const statuses = {};
  for (let i = 0; i < count; i++) {
    const form = new FormData();
    form.append("file", new Blob([new Uint8Array(size).fill(i % 251)]), `f${i}.bin`);
    const r = await fetch(`/_stcore/upload_file/${sessionId}/${crypto.randomUUID()}`,
                          {method: "PUT", body: form, headers: {"X-Xsrftoken": xsrf},
                           credentials: "same-origin"});
    statuses[r.status] = (statuses[r.status] || 0) + 1;
  }
  return statuses;
}"""


def server_pid(url: str) -> int:
    port = url.rsplit(":", 1)[1].encode()
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"streamlit" in cmdline and b"\0" + port + b"\0" in cmdline:
            return int(proc.name)
    raise LookupError(url)


def memory(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split(f"{field}:")[1].split()[0]) * 1024


def upload_one(page, path: Path) -> str:
    """Upload ``path`` with the page's file uploader; the session id its upload URL names."""
    urls = []
    page.on("request", lambda r: urls.append(r.url) if "/_stcore/upload_file/" in r.url
            and r.method == "PUT" else None)
    page.locator("[data-testid='stFileUploader'] input[type=file]").first.set_input_files(
        str(path))
    for _ in range(100):  # the PUT follows a round trip for its URL
        if urls:
            break
        page.wait_for_timeout(100)
    wait_idle(page)
    assert urls, "the uploader sent nothing"
    return urls[0].rsplit("/", 2)[-2]


@pytest.fixture
def server(tmp_path):
    with serve_app(tmp_path / "streamlit.log") as url:
        yield url


def test_the_upload_endpoint_cannot_park_memory_and_a_bomb_is_refused_on_the_page(
        server, page_for, tmp_path):
    page = page_for(server)
    open_page(page, server, "class_data")
    lying = tmp_path / "class-set.zip"  # says a full class set, unpacks to 80 MiB of zeros
    lying.write_bytes(zip_of([bomb(IDX_IMAGES, zipfile.ZIP_BZIP2, 80 * MIB, MAX_IMPORT_BYTES),
                              bomb(IDX_LABELS, zipfile.ZIP_BZIP2, 8)]))
    session = upload_one(page, lying)
    pid = server_pid(server)

    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak starts again from here
    before = memory(pid, "VmHWM")
    page.get_by_role("button", name="Import").click()
    wait_idle(page)
    error = page.locator("[data-testid='stAlertContentError']").first
    error.wait_for(timeout=30_000)
    text = error.inner_text()
    assert text.startswith("Nothing imported: 'class-images-idx3-ubyte' in class-set.zip "
                           "unpacks to more than"), text
    assert "\n" not in text.strip()
    rise = memory(pid, "VmHWM") - before
    print(f"bomb import: server peak rose {rise / MIB:.0f} MiB for a {lying.stat().st_size:,} "
          "byte file")
    assert rise <= lying.stat().st_size + 64 * MIB

    rss = memory(pid, "VmRSS")
    statuses = page.evaluate(PARK, [session, 300, MIB])
    parked = memory(pid, "VmRSS") - rss
    print(f"300 x 1 MiB to the upload endpoint: {statuses}, server RSS +{parked / MIB:.0f} MiB")
    assert statuses == {"204": 300}
    assert parked <= MAX_UPLOAD_BYTES + 64 * MIB  # one session: one largest upload's worth
