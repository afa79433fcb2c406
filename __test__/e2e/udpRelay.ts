// The network between the browsers and the SFU, made something a test can
// cut: the SFU's transports listen on 127.0.0.1 and announce 127.0.0.2 in
// their ICE candidates; the relay binds each transport's port on 127.0.0.2
// and forwards datagrams both ways, from a socket of its own per browser
// address. `cut()` drops everything, as an outage would; after `restore()`
// the SFU sees each browser from a new source port, as after a network
// change or a NAT rebinding.
import * as dgram from 'node:dgram';

export const RELAY_ADDRESS = '127.0.0.2';
const SFU_ADDRESS = '127.0.0.1';

export class UdpRelay {
  private readonly fronts = new Map<number, dgram.Socket>();
  /** Toward the SFU, per (port, browser address). */
  private readonly backs = new Map<string, dgram.Socket>();
  private cutOff = false;
  /** Datagrams relayed, both ways. */
  relayed = 0;

  /** Relays a transport's port (its candidate's). */
  async add(port: number): Promise<void> {
    if (this.fronts.has(port)) return;
    const front = dgram.createSocket('udp4');
    this.fronts.set(port, front);
    front.on('message', (message, from) => {
      if (this.cutOff) return;
      const key = `${port}|${from.address}:${from.port}`;
      let back = this.backs.get(key);
      if (!back) {
        back = dgram.createSocket('udp4');
        back.on('message', (reply) => {
          if (this.cutOff) return;
          this.relayed += 1;
          front.send(reply, from.port, from.address);
        });
        back.bind(0, SFU_ADDRESS);
        this.backs.set(key, back);
      }
      this.relayed += 1;
      back.send(message, port, SFU_ADDRESS);
    });
    await new Promise<void>((resolve, reject) => {
      front.once('error', reject);
      front.bind(port, RELAY_ADDRESS, () => resolve());
    });
  }

  /** Nothing passes, either way, until `restore()`. */
  cut(): void {
    this.cutOff = true;
    for (const back of this.backs.values()) back.close();
    this.backs.clear();
  }

  restore(): void {
    this.cutOff = false;
  }

  close(): void {
    this.cut();
    for (const front of this.fronts.values()) front.close();
    this.fronts.clear();
  }
}
