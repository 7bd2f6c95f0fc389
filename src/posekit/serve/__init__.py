"""`posekit serve`: the HTTP / WebSocket service over the library, and its web page (``static/``).

``app.create_app`` builds the FastAPI app; ``pool`` runs models in a thread pool sized to the cores;
``upload`` decodes image bytes the way ``posekit.images.read_image`` decodes files; ``metrics`` writes the
Prometheus text format. FastAPI and uvicorn come with ``pip install 'posekit[serve]'``.
"""
