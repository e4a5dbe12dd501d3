"""A TCP proxy that can block its connections, for GeoInfer's scale-out tests.

    python tcp_proxy.py --port P --upstream 127.0.0.1:U

Every connection to P is forwarded byte for byte to the upstream (PostgreSQL, in the tests).

    SIGUSR1   block: stop moving bytes in both directions on every connection, open or new.
              Nothing is closed or reset; what is sent waits in the kernel's buffers, so the
              peers see a network that went silent (as when a firewall drops the packets).
    SIGUSR2   unblock: bytes flow again, in order, nothing lost.
"""
import argparse
import asyncio
import signal


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    up_host, up_port = args.upstream.rsplit(":", 1)
    flowing = asyncio.Event()
    flowing.set()
    loop = asyncio.get_running_loop()

    def block():
        flowing.clear()
        print("blocked", flush=True)

    def unblock():
        flowing.set()
        print("flowing", flush=True)

    # A test runner may start its children with these signals blocked: take them back.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1, signal.SIGUSR2})
    loop.add_signal_handler(signal.SIGUSR1, block)
    loop.add_signal_handler(signal.SIGUSR2, unblock)

    async def pump(reader, writer):
        try:
            while True:
                await flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                await flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def handle(client_reader, client_writer):
        await flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(up_host, int(up_port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pump(client_reader, up_writer), pump(up_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", args.port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
