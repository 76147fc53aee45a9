/**
 * The stand-alone CDK app (`npx cdk synth|deploy`, see docs/DEPLOY.md): one stack named
 * Sluice, configured by context or environment (infra/app-config.ts).
 */
import { App } from 'aws-cdk-lib';
import { clusterPropsFrom, settingsLookup } from './app-config.ts';
import { SluiceStack } from './sluice-stack.ts';

const app = new App();
const lookup = settingsLookup((key) => app.node.tryGetContext(key));
new SluiceStack(app, 'Sluice', { cluster: clusterPropsFrom(lookup) });
app.synth();
