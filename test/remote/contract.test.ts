/** `npm run test:remote`: the contract suite against SLUICE_URL (see docs/DEPLOY.md). */
import { describeContract } from './contract.ts';
import { remoteApi, remoteTarget } from './remote-api.ts';

const { url, auth } = remoteTarget();
describeContract(`${url} (auth: ${auth.type})`, remoteApi(url, auth));
