import sys
from pathlib import Path

# The export builders are shared with the end-to-end test (tests-e2e/test_importer.py).
sys.path.insert(0, str(Path(__file__).parent))
