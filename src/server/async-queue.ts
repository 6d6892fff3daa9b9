/**
 * A minimal unbounded push/pull queue that is also an async iterator: the bridge from events
 * (accepted sessions, received datagrams) to `for await`. Producers bound it themselves.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #waiters: ((result: IteratorResult<T>) => void)[] = [];
  #ended = false;

  /** Items waiting for a consumer. */
  get size(): number {
    return this.#items.length;
  }

  /** Whether {@link end} was called. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Hands an item to a waiting consumer or queues it; ignored after {@link end}. */
  push(item: T): boolean {
    if (this.#ended) return false;
    const waiter = this.#waiters.shift();
    if (waiter) waiter({ done: false, value: item });
    else this.#items.push(item);
    return true;
  }

  /** No more items: waiting consumers finish; queued items are returned to the caller. */
  end(): T[] {
    this.#ended = true;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter({ done: true, value: undefined });
    const rest = this.#items;
    this.#items = [];
    return rest;
  }

  /** The next item, or done once ended and empty. */
  next(): Promise<IteratorResult<T>> {
    if (this.#items.length > 0) return Promise.resolve({ done: false, value: this.#items.shift()! });
    if (this.#ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}
