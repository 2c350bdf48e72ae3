import { sqliteConfigApiBackend } from '../../helpers/api.js';
import { describeConfigApiRoutes } from './config-api.suite.js';

describeConfigApiRoutes(sqliteConfigApiBackend());
