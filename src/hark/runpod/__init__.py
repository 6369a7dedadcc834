"""The RunPod serverless worker: `handler.handler(job)` turns a RunPod job into WhisperX JSON.

The RunPod SDK (`pip install 'hark[runpod]'`) is only needed to serve jobs
(`deploy/runpod/main.py`); the handler itself runs without it.
"""
