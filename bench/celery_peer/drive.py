"""Posts one photo through the Celery peer and waits for its chain to finish.
Usage: PEER_REDIS_URL=redis://127.0.0.1:PORT python drive.py AUTHOR PHOTO plain|pipelined
Prints the seconds from sending the first task to the last batch written, and the number of
followers the chain covered."""
import sys
import time

from peer import fan_out, feeds

author, photo, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
started = time.monotonic()
fan_out.delay(author, photo, 0, mode == "pipelined")
reply = feeds.blpop(f"peer:done:{photo}", timeout=600)
if reply is None:
    sys.exit("the peer's chain did not finish within 600 s")
print(f"{time.monotonic() - started:.3f} {int(reply[1])}")
