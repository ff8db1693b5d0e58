import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import type { Api, Connection } from './api.js';

export const ApiContext = createContext<Api | undefined>(undefined);

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi outside <ApiContext.Provider>');
  return api;
}

/** The live connection's state, re-rendering on every change. */
export function useConnection(): Connection {
  const api = useApi();
  const [connection, setConnection] = useState(api.connection);
  useEffect(() => {
    setConnection(api.connection());
    return api.onConnection(setConnection);
  }, [api]);
  return connection;
}
