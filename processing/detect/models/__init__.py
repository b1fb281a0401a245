"""The project's own trained detector weights (ONNX) and their JSON descriptions."""
