"""The peer fanout replaces: the Celery + redis-py chained task of docs/ARCHITECTURE.md,
section "The problem". A task reads 10,000 followers with LRANGE, LPUSHes the photo id
into each follower's feed (one round trip each, or one redis-py pipeline per batch in the
pipelined variant), and chains the next task with the next cursor. As deployed it neither
trims feeds nor guards against a retried task pushing twice.

Broker and feeds: the Redis at PEER_REDIS_URL (the broker in database 1, feeds in 0).
When the last batch is written the task pushes to `peer:done:{photo}`, which the driver
(drive.py) waits on.
"""
import os

import redis
from celery import Celery

URL = os.environ["PEER_REDIS_URL"]
BATCH = 10_000

app = Celery("peer", broker=f"{URL}/1")
app.conf.update(task_ignore_result=True, worker_prefetch_multiplier=1)
feeds = redis.Redis.from_url(f"{URL}/0")


@app.task
def fan_out(author, photo, cursor=0, pipelined=False):
    followers = feeds.lrange(f"followers:{author}", cursor, cursor + BATCH - 1)
    if pipelined:
        pipe = feeds.pipeline(transaction=False)
        for follower in followers:
            pipe.lpush(b"homefeed:" + follower, photo)
        pipe.execute()
    else:
        for follower in followers:
            feeds.lpush(b"homefeed:" + follower, photo)
    if len(followers) == BATCH:
        fan_out.delay(author, photo, cursor + BATCH, pipelined)
    else:
        feeds.rpush(f"peer:done:{photo}", cursor + len(followers))
