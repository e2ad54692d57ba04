#!/usr/bin/env python3
"""A loopback HTTP/1.1 server that stalls: from OFFSET seconds after its first request, and
then every PERIOD seconds, it holds every response for STALL seconds (a request arriving in a
stall is answered when the stall ends). On SIGTERM it writes what it did as JSON: the wall
time of the first request and the stall windows, from which the ground truth is computed.

Usage: stall_server.py PORT LOG.json [PERIOD=10] [STALL=1] [OFFSET=5]
"""
import asyncio
import json
import signal
import sys
import time

port, log = int(sys.argv[1]), sys.argv[2]
period, stall, offset = (float(a) for a in (sys.argv[3:] + ["10", "1", "5"][len(sys.argv) - 3:])[:3])
state = {"first": None, "requests": 0}
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def stall_end(now):
    """The end of the stall `now` falls in, or None."""
    since = now - state["first"] - offset
    if since < 0:
        return None
    into = since % period
    return now + (stall - into) if into < stall else None


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            now = time.time()
            if state["first"] is None:
                state["first"] = now
            state["requests"] += 1
            end = stall_end(now)
            if end is not None:
                await asyncio.sleep(end - time.time())
            writer.write(RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=4096)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
    json.dump({"first": state["first"], "period": period, "stall": stall, "offset": offset,
               "requests": state["requests"]}, open(log, "w"))


asyncio.run(main())
