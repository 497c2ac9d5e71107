/**
 * The output of an image build step (a host command such as debootstrap, or a build container's
 * install script) cut into lines as it arrives: each line goes to the progress callback, and the
 * last few are kept, so a failure can quote what the step said last.
 */
export class LineTail {
  readonly #onLine: ((line: string) => void) | undefined;
  readonly #keep: number;
  #partial = '';
  #tail: string[] = [];

  constructor(onLine?: (line: string) => void, keep = 30) {
    this.#onLine = onLine;
    this.#keep = keep;
  }

  /** A chunk of output; a line split across chunks is joined up. */
  push(text: string): void {
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop() ?? '';
    for (const l of lines) this.#line(l);
  }

  /** The output ended: a last line without a newline counts too. */
  end(): void {
    const rest = this.#partial;
    this.#partial = '';
    if (rest) this.#line(rest);
  }

  /** The last lines (at most `keep`), one per line. */
  text(): string {
    return this.#tail.join('\n');
  }

  #line(l: string): void {
    this.#onLine?.(l);
    this.#tail.push(l);
    if (this.#tail.length > this.#keep) this.#tail.shift();
  }
}
