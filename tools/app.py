"""Web app: upload photos or a video, see the 3D scene, click an object to segment it in every view.

    pip install -e ".[app]"
    python tools/app.py --checkpoint runs/synthetic-<time>/last.ckpt          # then open http://127.0.0.1:7860
    python tools/app.py --checkpoint hf://org/name --port 8080 --host 0.0.0.0

The backbone runs once per upload ("Reconstruct"); each click then runs only the query decoder on the
cached encoding (as SAM2's predictor), and shows the mask on every view and the object's 3D points.
"Download" gives a zip of the same outputs as tools/infer.py with --export colmap,glb,nerfstudio.
The logic lives in segvggt/inference/app_session.py; this file is the Gradio page around it.
"""

# no `from __future__ import annotations`: Gradio reads the `gr.SelectData` annotation of event handlers
import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ELEM = dict(upload="upload", run="reconstruct", status="status", download="download", scene="scene3d",
            photos="photos", click="click-image", object="object3d", info="click-info", masks="masks")
INTRO = """# SegVGGT: photos in, 3D scene and objects out
1. Upload **photos of one scene** (at least 2) **or one video**, press **Reconstruct**.
2. Pick a photo below, then **click an object** on it: its mask appears on every view and its points in 3D.
Lengths are in VGGT's scene units (not metres); use `tools/infer.py --scale` for metric scale."""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help=".ckpt, exported .safetensors, VGGT model.pt or hf://org/name[/file]")
    p.add_argument("--port", type=int, default=7860, help="port to serve on (default 7860)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 = every interface)")
    p.add_argument("--device", default=None, help="cuda, cpu (default: cuda if available)")
    p.add_argument("--score-threshold", type=float, default=0.5, help="keep instances scoring at least this")
    p.add_argument("--work-dir", default=None, help="where uploads' outputs go (default: a temporary folder)")
    return p.parse_args(argv)


def _user_error(err: Exception):
    import gradio as gr

    return gr.Error(str(err), print_exception=False)


def build_app(session):
    """The Gradio Blocks page around an AppSession."""
    import gradio as gr

    from segvggt.inference.predictor import load_error_types

    errors = load_error_types()

    def reconstruct(files, fps, max_frames):
        if not files:
            raise gr.Error("upload photos of one scene (at least 2) or one video first", print_exception=False)
        try:
            view = session.reconstruct(files, float(fps or 1.0), int(max_frames) if max_frames else None)
        except errors as err:
            raise _user_error(err) from None
        gallery = [(str(p), name) for p, name in zip(view.overlays, view.names)]
        return (view.run, 0, view.message, str(view.glb) if view.glb else None, gallery, str(view.photos[0]),
                str(view.zip), None, "", None)

    def select_photo(run, evt: gr.SelectData):
        if run is None:
            raise gr.Error("reconstruct a scene first", print_exception=False)
        frame = int(evt.index)
        return frame, str(session.photo(run, frame))

    def click(run, frame, polarity, add, evt: gr.SelectData):
        if run is None:
            raise gr.Error("reconstruct a scene first", print_exception=False)
        x, y = evt.index
        try:
            answer = session.click(run, int(frame), float(x), float(y), positive=polarity.startswith("object"), add=bool(add))
        except errors as err:
            raise _user_error(err) from None
        names = session.names(run)
        masks = [(str(p), n) for p, n in zip(answer.masks, names)]
        return masks, str(answer.glb) if answer.glb else None, answer.message, str(answer.marked)

    with gr.Blocks(title="SegVGGT") as demo:
        run_state, frame_state = gr.State(None), gr.State(0)
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="Photos of one scene, or one video", file_count="multiple",
                                 file_types=["image", "video"], elem_id=ELEM["upload"])
                with gr.Row():
                    fps = gr.Number(value=1.0, label="video: frames per second", minimum=0.01)
                    max_frames = gr.Number(value=0, label="at most N frames (0 = all)", precision=0, minimum=0)
                run_button = gr.Button("Reconstruct", variant="primary", elem_id=ELEM["run"])
                status = gr.Markdown(elem_id=ELEM["status"])
                download = gr.File(label="Download all outputs (zip)", elem_id=ELEM["download"], interactive=False)
            with gr.Column(scale=2):
                scene = gr.Model3D(label="3D scene: points, instances, camera frustums, boxes", height=460,
                                   clear_color=(1.0, 1.0, 1.0, 1.0), elem_id=ELEM["scene"])
        photos = gr.Gallery(label="Photos with instances (select one to click on it)", columns=6, height=230,
                            allow_preview=False, format="png", elem_id=ELEM["photos"])
        with gr.Row():
            with gr.Column():
                with gr.Row():
                    polarity = gr.Radio(["object (+)", "background (-)"], value="object (+)", label="a click marks")
                    add = gr.Checkbox(value=False, label="add to previous clicks")
                click_image = gr.Image(label="Click on an object", type="filepath", interactive=False, format="png",
                                       elem_id=ELEM["click"])
            with gr.Column():
                object3d = gr.Model3D(label="The clicked object in 3D (magenta)", height=420,
                                      clear_color=(1.0, 1.0, 1.0, 1.0), elem_id=ELEM["object"])
        info = gr.Textbox(label="Click", interactive=False, elem_id=ELEM["info"])
        masks = gr.Gallery(label="Its mask on every view", columns=6, height=230, allow_preview=False, format="png",
                           elem_id=ELEM["masks"])

        run_button.click(reconstruct, [upload, fps, max_frames],
                         [run_state, frame_state, status, scene, photos, click_image, download, masks, info, object3d])
        photos.select(select_photo, [run_state], [frame_state, click_image])
        click_image.select(click, [run_state, frame_state, polarity, add], [masks, object3d, info, click_image])
    return demo


def launch(session, port: int = 7860, host: str = "127.0.0.1", block: bool = True):
    """Serve the page; block=False returns at once (tests). Returns the Gradio Blocks."""
    import gradio as gr

    demo = build_app(session)
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],  # no web fonts: works offline
                              font_mono=["ui-monospace", "monospace"])
    demo.queue().launch(server_name=host, server_port=port, prevent_thread_lock=not block, share=False, quiet=not block,
                        ssr_mode=False, theme=theme, show_error=True, allowed_paths=[str(session.work_dir)])
    return demo


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio  # noqa: F401
    except ImportError:
        print("error: the web app needs Gradio: pip install -e '.[app]'", file=sys.stderr)
        return 2
    from segvggt.inference.app_session import AppSession
    from segvggt.inference.predictor import Predictor, load_error_types

    try:
        predictor = Predictor.from_checkpoint(args.checkpoint, args.device)
    except load_error_types() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    work_dir = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="segvggt-app-"))
    print(f"serving on http://{args.host}:{args.port} (outputs in {work_dir})")
    launch(AppSession(predictor, work_dir, score_threshold=args.score_threshold), args.port, args.host, block=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
