"""Run localstripe on 127.0.0.1 only, keeping its state file where the test says.

    python -m tests.support.localstripe_server PORT STATE_FILE

localstripe's own CLI listens on every interface and keeps its state in
/tmp/localstripe.pickle; the tests need neither.
"""

import pickle
import sys

from aiohttp import web
from localstripe import resources
from localstripe.server import app


def main() -> None:
    port, state_file = int(sys.argv[1]), sys.argv[2]

    def dump_to_disk(self):
        with open(state_file, "wb") as fh:
            pickle.dump(dict(self), fh, protocol=pickle.HIGHEST_PROTOCOL)

    def try_load_from_disk(self):
        pass

    resources.Store.dump_to_disk = dump_to_disk
    resources.Store.try_load_from_disk = try_load_from_disk
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
