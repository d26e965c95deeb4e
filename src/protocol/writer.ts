/** A message builder whose length word is back-filled when the message is finished. */
export class MessageWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  /** Starts a typed message (`type` byte) or, with no type, an untyped startup-phase packet. */
  constructor(private readonly type?: number) {}

  /** Appends a big-endian signed 32-bit integer. */
  int32(value: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(value, 0);
    return this.bytes(b);
  }

  /** Appends a NUL-terminated UTF-8 string. */
  cstring(value: string): this {
    return this.bytes(Buffer.from(value + '\0', 'utf8'));
  }

  /** Appends raw bytes. */
  bytes(value: Buffer): this {
    this.parts.push(value);
    this.size += value.length;
    return this;
  }

  /** Returns the finished message: type byte (if any), Int32 length including itself, body. */
  finish(): Buffer {
    const header = this.type === undefined ? 4 : 5;
    const out = Buffer.allocUnsafe(header + this.size);
    if (this.type !== undefined) out[0] = this.type;
    out.writeInt32BE(this.size + 4, header - 4);
    let offset = header;
    for (const p of this.parts) offset += p.copy(out, offset);
    return out;
  }
}
