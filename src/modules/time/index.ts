/**
 * XEP-0202 Entity Time: the server's UTC time and its time zone offset (XEP-0082 formats).
 */
import { defineModule } from '../../core/modules.js';
import { Element } from '../../xml/element.js';

export const NS_TIME = 'urn:xmpp:time';

/** XEP-0082 time zone offset of `date` in the server's zone: '+02:00', '-05:30', '+00:00'. */
export function tzo(date: Date): string {
  const minutesEast = -date.getTimezoneOffset();
  const sign = minutesEast < 0 ? '-' : '+';
  const abs = Math.abs(minutesEast);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** XEP-0082 DateTime in UTC, whole seconds: '2006-12-19T17:58:35Z'. */
export function utc(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export default defineModule({
  name: 'time',
  description: 'XEP-0202 Entity Time',
  setup(mod) {
    mod.addFeature(NS_TIME);
    mod.iq('get', NS_TIME, 'time', () => {
      const now = new Date();
      const time = new Element('time', { xmlns: NS_TIME });
      time.c('tzo').t(tzo(now));
      time.c('utc').t(utc(now));
      return time;
    });
  },
});
